"""keras.config's image data format: the layout of image layers' inputs.

"channels_last" (Keras's default): images (N, H, W, C), sequences for Conv1D
(N, L, C); "channels_first" (PyTorch's): (N, C, H, W), (N, C, L).  A layer
takes the format in force when it is made, unless given data_format=.
Inside a Sequential model the kernels always run channels-first: the model
moves the channel axis once where channels-last data enters the image
layers and once where it leaves them (Flatten, Dense, the output), not at
every layer.
"""
_FORMATS = ("channels_last", "channels_first")
_current = ["channels_last"]


def image_data_format():
    """The data format new image layers take: "channels_last" or "channels_first"."""
    return _current[0]


def set_image_data_format(data_format):
    """Sets the data format of image layers made from now on."""
    _current[0] = resolve(data_format)


def resolve(data_format):
    """data_format as given, or the one in force for None; ValueError otherwise."""
    if data_format is None:
        return _current[0]
    if data_format not in _FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first'; received {data_format!r}")
    return data_format
