// Security Manager channel (L2CAP CID 6), until pairing is implemented.
#ifndef BLEHOST_BH_SMP_H
#define BLEHOST_BH_SMP_H

// Install the SMP channel handler (called with the GAP reset).
void bh_smp_init(void);
struct _bh_layer_t;
extern const struct _bh_layer_t bh_smp_layer;

#endif // BLEHOST_BH_SMP_H
