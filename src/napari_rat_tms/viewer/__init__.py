"""napari side of the plugin: layer data from core objects, the reader, the sample data.

Nothing here runs computations of its own: it converts between core objects (SI or mm arrays)
and napari layer data, following :mod:`napari_rat_tms.core.conventions` (world = mm).
"""
