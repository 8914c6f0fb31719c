"""Operations plumbing: what an operator reads and scrapes.

- :mod:`mailframe.ops.events`: one log line per connection, login, refused
  login and delivery, with the numbers the metrics count;
- :mod:`mailframe.ops.metrics`: Prometheus counters and histograms, served
  by ``--metrics ENDPOINT``;
- :mod:`mailframe.ops.health`: ``--health ENDPOINT``, 200 only while every
  listener is up and the store answers;
- :mod:`mailframe.ops.authwatch`: watches one connection's logins to learn
  the mechanism and the outcome;
- :mod:`mailframe.ops.loglevel` and :mod:`mailframe.ops.jsonlog`:
  ``--log-level`` and a JSON-lines observer for twistd's ``--logger``.

Nothing here ever sees a password or message content: the events carry
names, addresses, sizes, counts and reasons only.
"""
