// The host's own error numbers. Host calls return 0, a negative BH_E* value,
// or (HCI command helpers only) a positive controller status. They are not
// the C library's errno values, which differ between ports (newlib, glibc,
// MicroPython's internal table): the embedding translates them in one place.
#ifndef BLEHOST_BH_ERR_H
#define BLEHOST_BH_ERR_H

#define BH_EPERM (1)      // not allowed in this state
#define BH_EIO (2)        // the controller refused, or a transport error
#define BH_ENODEV (3)     // inactive, or no controller transport
#define BH_ETIMEDOUT (4)  // the controller (or the peer) did not answer in time
#define BH_EINVAL (5)     // an argument out of range
#define BH_EBUSY (6)      // busy with another operation of the same kind
#define BH_ENOTCONN (7)   // no such link or channel
#define BH_ENOMEM (8)     // a fixed pool or queue is full
#define BH_EALREADY (9)   // already in progress
#define BH_EOPNOTSUPP (10) // not supported
#define BH_EAGAIN (11)    // try again later
#define BH_EMSGSIZE (12)  // too long, or a reply too short
#define BH_ENOSYS (13)    // the port lacks the facility (e.g. no random source)
#define BH_EPROTO (14)    // the transport lost its framing

#endif // BLEHOST_BH_ERR_H
