// qstrs specific to the unix board (none needed beyond those found by the scan).
