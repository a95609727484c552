// qstrs specific to the qemu board, beyond those found by the scan.
// *FORMAT-OFF*
Q(/lib)
