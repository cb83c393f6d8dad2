"""Named geometry: the sizes a kernel call needs, in one immutable record per
op family, with the field order of the C structs (csrc/fastconv.h:
fc_conv_geom, fc_pool_geom, fc_rnn_geom) and of the CUDA kernels' parameter
lists (CONV_GEOM, POOL_GEOM in fastconv/_gpu/*.cu).  They are tuples, so
the bindings and the GPU launches take them as they are; Python code reads
them by name.  This module imports nothing of the package."""
from typing import NamedTuple


class ConvGeometry(NamedTuple):
    """A convolution (cross-correlation) of x (N, C, H, W) with w (K, C/G,
    R, S) into y (N, K, P, Q); strides sh sw, top / left padding ph pw
    (the bottom / right padding is implied by P, Q), dilations dh dw.  A
    1-D convolution is H = R = P = 1."""
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    P: int
    Q: int
    G: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int


def winograd_fits(geom):
    """Whether Winograd F(4x4, 3x3) computes the convolution geom: a 3x3
    kernel, stride 1, dilation 1, one group, padding at most 2 on the top and
    left (the input gradient runs as a 3x3 convolution with padding 2 - pad);
    csrc/conv_winograd.c, fc_winograd_fits, the same test."""
    return (geom.R == geom.S == 3 and geom.sh == geom.sw == geom.dh == geom.dw == geom.G == 1 and geom.ph <= 2
            and geom.pw <= 2)


def winograd_s2_fits(geom):
    """Whether the stride-2 Winograd (F(4, 2) on the even input phase, the odd phase's products:
    81 positions per 4x4 outputs) computes the convolution geom's forward: a 3x3 kernel, stride 2,
    dilation 1, one group, padding at most 2 on the top and left; csrc/conv_winograd_s2.c,
    fc_winograd_s2_fits, the same test."""
    return (geom.R == geom.S == 3 and geom.sh == geom.sw == 2 and geom.dh == geom.dw == geom.G == 1
            and geom.ph <= 2 and geom.pw <= 2)


def winograd1d_fits(geom):
    """Whether Winograd F(4, r) computes the 1-D convolution geom (one row, conv1d's form): 2 or
    more taps, one group, stride 1 (any dilation) or dilation 1 (stride up to 8), padding at most
    dilation x (taps - 1); csrc/conv_winograd1d.c, fc_winograd1d_fits, the same test.  Its input
    gradient: stride 1."""
    return (geom.H == geom.R == geom.P == 1 and geom.ph == 0 and geom.sh == 1 and geom.G == 1 and geom.S >= 2
            and geom.Q >= 1 and (geom.sw == 1 or geom.dw == 1) and geom.sw <= 8
            and 0 <= geom.pw <= geom.dw * (geom.S - 1))


class PoolGeometry(NamedTuple):
    """A pooling over NC planes of H x W into P x Q with R x S windows;
    strides sh sw, top / left padding ph pw, dilations dh dw.  A 1-D pooling
    is H = P = R = 1."""
    NC: int
    H: int
    W: int
    P: int
    Q: int
    R: int
    S: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int


class RnnGeometry(NamedTuple):
    """A recurrent layer over T steps of B sequences, I inputs and H hidden
    units per step; x_t, x_b, y_t, y_b: element strides between time steps
    and sequences of the input and output (time-major or batch-first);
    kind: the cell (the core's RNN_TANH, RNN_RELU, LSTM, GRU)."""
    T: int
    B: int
    I: int  # noqa: E741 (the input size, as in the papers)
    H: int
    x_t: int
    x_b: int
    y_t: int
    y_b: int
    kind: int
