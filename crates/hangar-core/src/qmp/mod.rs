//! QMP client: own transport over a unix socket (tolerant events, fd passing), qapi-qmp types.
