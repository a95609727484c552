// Compile-time sizing of the host. Every pool in lib/blehost is fixed; a port
// or a build may override any of these with -D.
#ifndef BLEHOST_BH_CONFIG_H
#define BLEHOST_BH_CONFIG_H

// Simultaneous LE connections the host tracks.
#ifndef BH_MAX_CONNECTIONS
#define BH_MAX_CONNECTIONS (4)
#endif

// Peers whose failed pairings the Security Manager remembers for the
// repeated-attempts back-off (Core Vol 3 Part H 2.3.6) after they
// disconnect; when full the oldest entry goes.
#ifndef BH_SMP_BACKOFF_MAX
#define BH_SMP_BACKOFF_MAX (8)
#endif

// Largest ACL payload accepted from the controller; longer packets are
// skipped by the H4 parser (LE Data Length Extension allows up to 251).
#ifndef BH_ACL_RX_MAX_DATA
#define BH_ACL_RX_MAX_DATA (251)
#endif

// Largest parameter block of a command we send (the HCI maximum is 255).
#ifndef BH_HCI_CMD_MAX_PARAMS
#define BH_HCI_CMD_MAX_PARAMS (255)
#endif

// How long a command may wait for its Command Complete/Status.
#ifndef BH_HCI_CMD_TIMEOUT_MS
#define BH_HCI_CMD_TIMEOUT_MS (2000)
#endif

// HCI_Reset on deactivation is best effort; do not hang the user for long.
#ifndef BH_HCI_RESET_SHORT_TIMEOUT_MS
#define BH_HCI_RESET_SHORT_TIMEOUT_MS (300)
#endif

// How long a command may wait for a command credit before the host assumes
// the controller lost track and tries anyway (the command's own timeout
// starts when it is sent).
#ifndef BH_HCI_CREDIT_WAIT_MS
#define BH_HCI_CREDIT_WAIT_MS (10000)
#endif

// Received HCI packets waiting for the host's loop (bytes, 3 per packet plus
// the packet, a packet never split at the ring's end). When full the host
// stops reading the transport. The default holds four of the largest ACL
// packets (3 + 4 + BH_ACL_RX_MAX_DATA bytes each, the flow control below)
// beside two of the largest events (3 + 2 + 255).
#ifndef BH_HCI_RX_QUEUE
#define BH_HCI_RX_QUEUE (4 * (3 + 4 + BH_ACL_RX_MAX_DATA) + 2 * (3 + 2 + 255))
#endif

// Controller-to-host flow control: ACL packets the controller may hand the
// host before the host gives their buffers back. What the receive queue
// holds beside room for two of the largest events: any free stretch of at
// least 2 x 260 - 1 bytes keeps 260 in one piece, so an event (a command's
// completion among them) always fits behind a flood; 0 leaves flow control
// off. Four keep the receive rate of one link at the air's pace (fewer slow
// it down: the controller waits for each buffer back).
#ifndef BH_HCI_HOST_ACL_PACKETS
#define BH_HCI_HOST_ACL_PACKETS ((BH_HCI_RX_QUEUE - 2 * (3 + 2 + 255)) / (3 + 4 + BH_ACL_RX_MAX_DATA))
#endif

// Asynchronous commands waiting for a credit, their parameter limit, and
// commands in flight at once.
#ifndef BH_HCI_CMD_QUEUE_LEN
#define BH_HCI_CMD_QUEUE_LEN (8)
#endif
#ifndef BH_HCI_ASYNC_PARAMS_MAX
#define BH_HCI_ASYNC_PARAMS_MAX (64)
#endif
#ifndef BH_HCI_INFLIGHT_MAX
#define BH_HCI_INFLIGHT_MAX (4)
#endif

// The port's transport carries H4 framing (lib/blehost/bh_h4_port.c frames
// it); 0 for ports that provide bh_port_hci_send/recv themselves.
#ifndef BH_PORT_H4
#define BH_PORT_H4 (1)
#endif

// A packet started on an H4 stream that makes no progress for this long
// means the framing is lost (a length that ran past the real packet).
#ifndef BH_H4_STALL_MS
#define BH_H4_STALL_MS (1000)
#endif

// Bytes pulled from the transport per read call.
#ifndef BH_HCI_RX_CHUNK
#define BH_HCI_RX_CHUNK (64)
#endif

// Upper bound on stale bytes discarded before HCI_Reset at activation, so a
// babbling transport cannot stall activation forever.
#ifndef BH_HCI_DRAIN_MAX_BYTES
#define BH_HCI_DRAIN_MAX_BYTES (4096)
#endif

// Largest L2CAP information payload we send / accept on one PDU (the ATT
// MTU maximum, 517). Received PDUs that are longer are dropped.
#ifndef BH_L2CAP_TX_MAX_PAYLOAD
#define BH_L2CAP_TX_MAX_PAYLOAD (517)
#endif
#ifndef BH_L2CAP_RX_MAX_PAYLOAD
#define BH_L2CAP_RX_MAX_PAYLOAD (517)
#endif

// The transmit queue, all links together: a FIFO ring of bytes holding each
// waiting L2CAP PDU (basic header included) after 4 bytes of bookkeeping, a
// PDU never split at the ring's end (the bytes left there are skipped). The
// default is the protocol reserve below (BH_ACL_TX_RESERVED PDUs of the
// largest size, 4 + 4 + 517 bytes each) and room for bulk data of three
// notifications that fill a 251-octet LL PDU each (ATT MTU 247), or one of
// the largest: 2100 + 765 = 2865 bytes.
#ifndef BH_ACL_TX_QUEUE_BYTES
#define BH_ACL_TX_QUEUE_BYTES (BH_ACL_TX_RESERVED * (8 + BH_L2CAP_TX_MAX_PAYLOAD) + 3 * (8 + 247))
#endif

// Room bulk data (notifications, indications, writes without response,
// channel SDUs) may never take, so protocol PDUs (ATT requests, responses
// and confirmations, L2CAP signalling, SMP) find it: bulk data is refused
// unless this many PDUs of the largest size (4 + 4 + 517 = 525 bytes of
// queue each) would still fit, each in one piece, behind it: 2100 bytes by
// default. One per link the host can hold: that is an ATT response as long
// as the largest ATT MTU on every link at once (a link has at most one
// waiting: its peer sends the next request only after it), or any mix of
// shorter protocol PDUs (SMP at most 65 bytes, signalling a few dozen) up to
// those bytes. Beyond them bh_l2cap_send() says -BH_ENOMEM (counted in
// tx_refused); ATT client requests, confirmations and channel signalling
// are retried by their senders.
#ifndef BH_ACL_TX_RESERVED
#define BH_ACL_TX_RESERVED (BH_MAX_CONNECTIONS)
#endif

// Largest ACL fragment we send, whatever the controller's buffers allow.
#ifndef BH_ACL_TX_MAX_DATA
#define BH_ACL_TX_MAX_DATA (251)
#endif

// Resolvable/non-resolvable private address lifetime in seconds (Core spec
// recommends 15 minutes); changeable at run time within
// BH_RPA_TIMEOUT_MIN_S..MAX_S (blehost.h).
#ifndef BH_RPA_TIMEOUT_S
#define BH_RPA_TIMEOUT_S (900)
#endif

// Retry period for a private address change the controller refused because
// advertising/scanning/initiating was enabled.
#ifndef BH_ADDR_RETRY_MS
#define BH_ADDR_RETRY_MS (1000)
#endif

// The ATT MTU offered in exchanges until the embedding sets one (NimBLE's
// preferred MTU, which MicroPython's own tests assume a peer accepts).
#ifndef BH_ATT_LOCAL_MTU_DEFAULT
#define BH_ATT_LOCAL_MTU_DEFAULT (256)
#endif

// GATT server database (bh_gatts.c). Its storage comes from the embedding,
// sized by the services it registers; these only bound it: attributes
// (the last handle, the 9 fixed ones included), 128-bit UUIDs (an 8-bit
// index: at most 255), bytes of all values together (16-bit offsets: at
// most 65535), Client Characteristic Configuration descriptors (Service
// Changed's included; each takes 2 bytes per link of the storage, and a
// bond's saved subscriptions take stack in proportion when saved).
#ifndef BH_GATTS_MAX_ATTRS
#define BH_GATTS_MAX_ATTRS (2048)
#endif
#ifndef BH_GATTS_MAX_UUID128
#define BH_GATTS_MAX_UUID128 (255)
#endif
#ifndef BH_GATTS_MAX_VALUE_BYTES
#define BH_GATTS_MAX_VALUE_BYTES (65535)
#endif
#ifndef BH_GATTS_MAX_CCCD
#define BH_GATTS_MAX_CCCD (32)
#endif
// The prepare-write queue, shared by all links (bytes, 7 per queued write
// plus its data). A write that does not fit is refused with Prepare Queue
// Full; a link's writes go at its Execute Write and its disconnection.
// 1024 holds one 512-byte long write at any MTU (29 writes of 18 bytes at
// the default MTU take 725).
#ifndef BH_GATTS_PREPARE_QUEUE
#define BH_GATTS_PREPARE_QUEUE (1024)
#endif

#endif // BLEHOST_BH_CONFIG_H
