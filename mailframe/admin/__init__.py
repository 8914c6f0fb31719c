"""Administration operations behind the ``mailframe`` command line: the
passwd-file (:mod:`.passwd_file`) and moving mail between stores, mbox
files and Maildir trees (:mod:`.transfer`, :mod:`.mbox`).  Each works on
files a running server also uses, the way the server expects others to."""
