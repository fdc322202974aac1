"""The Max for Live device and the Pure Data patch, generated from the server's address table."""
