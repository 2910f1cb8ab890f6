"""``quantsr view``: review fast | DL | routine maps in the browser (trame web app on Slicer's MRML scene).

``studies`` (what a folder holds) needs only the core; ``session`` / ``slices`` / ``app`` need the optional
``web`` extra (trame) and the slicer-core wheel, and are imported only by the command's handler."""
