"""Qt/magicgui widgets: thin shells that collect parameters, run one core function in a
napari worker (progress, cancel) and add the resulting layers."""
