"""`nodegraph farm`: one preset over many inputs on a Ray cluster, each input cut into chunks that run as Ray
tasks and are joined without re-encoding. Ray owns the cluster, placement and retries; this package owns only
the cutting (`cutting`), the task (`tasks`), the joining (`joining`), the progress (`progress`) and the
command (`run`). What a video is, the node library says through the `nodegraph.farm` entry points
(`plugins`). Ray is imported only when a farm runs: it is the optional extra `nodegraph[farm]`."""
