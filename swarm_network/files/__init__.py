"""Content-addressed weight files: the store, the HTTP file server every node runs, and
verified downloads from peers. Lives here, below both learners and SN nodes, because both
serve and fetch files."""
