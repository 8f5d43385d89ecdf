package daemon

// busyFD is the descriptor on which a session started by --listen reads
// whether the listener is busy (see throttle.BusyBoard).
const busyFD = 3
