// qstrs specific to the unix board, beyond those found by the scan.
// *FORMAT-OFF*
Q(/lib)
