"""Administration operations behind the ``mailframe`` command line: the
passwd-file (:mod:`mailframe.admin.passwd_file`) and moving mail between stores, mbox
files and Maildir trees (:mod:`mailframe.admin.transfer`, :mod:`mailframe.admin.mbox`).  Each works on
files a running server also uses, the way the server expects others to."""
