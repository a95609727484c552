// Security Manager channel (L2CAP CID 6), until pairing is implemented.
#ifndef BLEHOST_BH_SMP_H
#define BLEHOST_BH_SMP_H

// Install the SMP channel handler (called with the GAP reset).
void bh_smp_init(void);

#endif // BLEHOST_BH_SMP_H
