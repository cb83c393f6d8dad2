/* fastconv compiled core: the C interface seen by the Cython bindings.
 *
 * Size letters, used with these meanings everywhere in csrc/:
 *   N  batch                  C  input channels       H, W  input height, width
 *   K  output channels        R, S  kernel height, width
 *   P, Q  output height, width                        G  groups
 * Tensors are C-contiguous:  x (N, C, H, W)   w (K, C/G, R, S)   y (N, K, P, Q).
 * A 1-D convolution is the case H = R = P = 1.
 *
 * Argument order of every kernel: outputs, then inputs and weights, then
 * sizes, then the thread count.  Backward kernels take the gradients they
 * produce first, then the upstream gradient, then what the forward saw.
 * Backward kernels ADD into their outputs; the caller zeroes them.
 * Kernels assume valid, contiguous input (validation lives in Python) and
 * return an fc_status instead of printing or exiting.
 */
#ifndef FASTCONV_H
#define FASTCONV_H

#include <stdint.h>

#if defined(_WIN32)
#define FC_EXPORT __declspec(dllexport)
#else
#define FC_EXPORT __attribute__((visibility("default")))
#endif

typedef enum fc_status {
    FC_OK = 0,
    FC_ERR_NOMEM = 1, /* a scratch buffer could not be allocated */
    FC_ERR_ARG = 2,   /* an argument the Python layer should have rejected */
    FC_ERR_GEOM = 3,  /* sizes, strides, paddings or dilations out of the kernels' range
                         (the Python layer rejects them first) */
} fc_status;

typedef enum fc_conv_algo {
    FC_ALGO_DIRECT = 0,
    FC_ALGO_IM2COL = 1,
} fc_conv_algo;

/* Geometry of one convolution.  pad_h / pad_w are the top / left padding;
 * the bottom / right padding is implied by P and Q, so asymmetric padding
 * ("same" with an even kernel) needs nothing more. */
typedef struct fc_conv_geom {
    int64_t N, C, H, W;
    int64_t K, R, S;
    int64_t P, Q;
    int64_t G;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;
    int64_t dil_h, dil_w;
} fc_conv_geom;

/* ---- runtime ---------------------------------------------------------- */

/* Thread count used by kernels when the caller passes nthreads <= 0. */
FC_EXPORT int fc_get_num_threads(void);
FC_EXPORT void fc_set_num_threads(int n);

/* SIMD level: 0 generic, 1 AVX2+FMA, 2 AVX-512 (F, VL, BW, DQ). */
int fc_simd_detected(void);          /* what the CPU and OS support */
int fc_simd_active(void);            /* what the kernels use now */
int fc_simd_set(int level);          /* caps the level; returns the level in use */
const char *fc_simd_name(int level);

/* Micro-kernel register tile of the active level, for tests and info. */
void fc_gemm_tile(int dtype_bytes, int *mr, int *nr);

/* ---- GEMM -------------------------------------------------------------- */

/* C[M,N] (+)= A[M,K] B[K,N] with element strides (rs = row stride,
 * cs = column stride), so transposed operands need no copy.  accumulate = 0
 * overwrites C.  The one GEMM every kernel in csrc/ goes through. */
int fc_gemm_f32(float *c, int64_t ldc, const float *a, int64_t rsa, int64_t csa,
                const float *b, int64_t rsb, int64_t csb, int64_t M, int64_t N,
                int64_t K, int accumulate, int nthreads);
int fc_gemm_f64(double *c, int64_t ldc, const double *a, int64_t rsa, int64_t csa,
                const double *b, int64_t rsb, int64_t csb, int64_t M, int64_t N,
                int64_t K, int accumulate, int nthreads);

/* ---- convolution ------------------------------------------------------- */

/* y = conv(x, w) + bias          (bias may be NULL) */
int fc_conv2d_forward_f32(int algo, float *y, const float *x, const float *w,
                          const float *bias, const fc_conv_geom *g, int nthreads);
int fc_conv2d_forward_f64(int algo, double *y, const double *x, const double *w,
                          const double *bias, const fc_conv_geom *g, int nthreads);

/* dx += conv^T(dy, w) */
int fc_conv2d_backward_input_f32(int algo, float *dx, const float *dy, const float *w,
                                 const fc_conv_geom *g, int nthreads);
int fc_conv2d_backward_input_f64(int algo, double *dx, const double *dy, const double *w,
                                 const fc_conv_geom *g, int nthreads);

/* dw += correlation of dy with x */
int fc_conv2d_backward_weight_f32(int algo, float *dw, const float *dy, const float *x,
                                  const fc_conv_geom *g, int nthreads);
int fc_conv2d_backward_weight_f64(int algo, double *dw, const double *dy, const double *x,
                                  const fc_conv_geom *g, int nthreads);

/* ---- pooling ------------------------------------------------------------ */

/* Geometry of a pooling over NC planes (batch x channels) of H x W inputs,
 * P x Q outputs, R x S windows; pad_h / pad_w are the top / left padding.
 * A 1-D pooling is H = P = R = 1. */
typedef struct fc_pool_geom {
    int64_t NC, H, W, P, Q, R, S;
    int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} fc_pool_geom;

/* y = window maxima; idx (may be NULL) = each maximum's index in its plane,
 * -1 for a window without input elements (possible with dilation) */
int fc_max_pool2d_forward_f32(float *y, int64_t *idx, const float *x, const fc_pool_geom *g, int nthreads);
int fc_max_pool2d_forward_f64(double *y, int64_t *idx, const double *x, const fc_pool_geom *g, int nthreads);
/* dx = scatter of dy through idx (dx is overwritten); index -1 is skipped;
 * FC_ERR_ARG when another index lies outside its plane (those are skipped) */
int fc_max_pool2d_backward_f32(float *dx, const float *dy, const int64_t *idx, const fc_pool_geom *g, int nthreads);
int fc_max_pool2d_backward_f64(double *dx, const double *dy, const int64_t *idx, const fc_pool_geom *g, int nthreads);
int fc_avg_pool2d_forward_f32(float *y, const float *x, const fc_pool_geom *g, int count_include_pad, int nthreads);
int fc_avg_pool2d_forward_f64(double *y, const double *x, const fc_pool_geom *g, int count_include_pad, int nthreads);
/* dx is overwritten */
int fc_avg_pool2d_backward_f32(float *dx, const float *dy, const fc_pool_geom *g, int count_include_pad, int nthreads);
int fc_avg_pool2d_backward_f64(double *dx, const double *dy, const fc_pool_geom *g, int count_include_pad, int nthreads);
/* y[i] = mean of x[i * n .. (i + 1) * n); backward: dx[i * n + j] = dy[i] / n */
int fc_global_avg_pool_forward_f32(float *y, const float *x, int64_t planes, int64_t n, int nthreads);
int fc_global_avg_pool_forward_f64(double *y, const double *x, int64_t planes, int64_t n, int nthreads);
int fc_global_avg_pool_backward_f32(float *dx, const float *dy, int64_t planes, int64_t n, int nthreads);
int fc_global_avg_pool_backward_f64(double *dx, const double *dy, int64_t planes, int64_t n, int nthreads);

/* ---- recurrent ------------------------------------------------------------ */

/* Sizes of the recurrent kernels: T steps, B batch rows, I input features,
 * H hidden units (in this section only), Gn gates: 1 (RNN), 4 (LSTM: i f g o),
 * 3 (GRU: r z n).  Row b of step t of x is at x + t * xt + b * xb (I
 * contiguous), of y at y + t * yt + b * yb (H contiguous): time-major and
 * batch-first arrays need no copy.  Weights as PyTorch: w_ih (Gn H, I),
 * w_hh (Gn H, H).  Internal buffers are time-major (T, B, ...). */
typedef enum fc_rnn_cell { FC_RNN_TANH = 0, FC_RNN_RELU = 1, FC_LSTM = 2, FC_GRU = 3 } fc_rnn_cell;

typedef struct fc_rnn_geom {
    int64_t steps, batch, input, hidden; /* T, B, I, H (T is a macro in the kernel templates) */
    int64_t xt, xb, yt, yb;
    int cell;
} fc_rnn_geom;

/* y = the hidden states.  gates (T, B, Gn H): the gate activations (LSTM,
 * GRU; a workspace for RNN); cell (T, B, H): LSTM's c_t; hn (T, B, H): GRU's
 * W_hn h_{t-1} + b_hn.  bias (Gn H): b_ih + b_hh, except GRU's n rows: b_in;
 * bias_hn (H): GRU's b_hn.  h0, c0, bias, bias_hn may be NULL (zeros). */
int fc_rnn_forward_f32(float *y, float *gates, float *cell, float *hn, const float *x, const float *h0,
                       const float *c0, const float *w_ih, const float *w_hh, const float *bias,
                       const float *bias_hn, const fc_rnn_geom *g, int nthreads);
int fc_rnn_forward_f64(double *y, double *gates, double *cell, double *hn, const double *x, const double *h0,
                       const double *c0, const double *w_ih, const double *w_hh, const double *bias,
                       const double *bias_hn, const fc_rnn_geom *g, int nthreads);

/* Backpropagation through time; adds into every gradient (the caller zeroes).
 * dgates (T, B, Gn H) and GRU's dhn (T, B, H) are workspaces; dx has x's
 * (dense) layout.  dy, dhT, dcT, dx, dh0, dc0, db_ih, db_hh may be NULL. */
int fc_rnn_backward_f32(float *dx, float *dh0, float *dc0, float *dw_ih, float *dw_hh, float *db_ih,
                        float *db_hh, float *dgates, float *dhn, const float *dy, const float *dhT,
                        const float *dcT, const float *gates, const float *cell, const float *hn,
                        const float *x, const float *y, const float *h0, const float *c0,
                        const float *w_ih, const float *w_hh, const fc_rnn_geom *g, int nthreads);
int fc_rnn_backward_f64(double *dx, double *dh0, double *dc0, double *dw_ih, double *dw_hh, double *db_ih,
                        double *db_hh, double *dgates, double *dhn, const double *dy, const double *dhT,
                        const double *dcT, const double *gates, const double *cell, const double *hn,
                        const double *x, const double *y, const double *h0, const double *c0,
                        const double *w_ih, const double *w_hh, const fc_rnn_geom *g, int nthreads);

/* ---- activations ------------------------------------------------------- */

typedef enum fc_activation {
    FC_ACT_SIGMOID = 0,
    FC_ACT_TANH = 1,
    FC_ACT_RELU = 2,
    FC_ACT_IDENTITY = 3 /* backward only */
} fc_activation;

/* y = f(x), n elements (y may be x) */
int fc_activation_forward_f32(int kind, float *y, const float *x, int64_t n, int nthreads);
int fc_activation_forward_f64(int kind, double *y, const double *x, int64_t n, int nthreads);
/* dx = dy f'(x), from y = f(x), over (outer, channels, inner) (dx may be dy);
 * dbias (channels), when not NULL, = the sum of dx over outer and inner */
int fc_activation_backward_f32(int kind, float *dx, const float *dy, const float *y, int64_t outer,
                               int64_t channels, int64_t inner, float *dbias, int nthreads);
int fc_activation_backward_f64(int kind, double *dx, const double *dy, const double *y, int64_t outer,
                               int64_t channels, int64_t inner, double *dbias, int nthreads);

/* ---- optimizer updates -------------------------------------------------- */

typedef enum fc_optimizer { FC_OPT_SGD = 0, FC_OPT_ADAGRAD = 1, FC_OPT_RMSPROP = 2, FC_OPT_ADAM = 3 } fc_optimizer;

/* One step over n parameters w, in place, from gradients g and the
 * optimizer's state s1, s2 (n each, where the rule has them); hp holds the
 * hyper-parameters in the order optim.c lists per rule. */
int fc_optim_update_f32(int kind, float *w, const float *g, float *s1, float *s2, int64_t n, const double *hp,
                        int nthreads);
int fc_optim_update_f64(int kind, double *w, const double *g, double *s1, double *s2, int64_t n,
                        const double *hp, int nthreads);

/* ---- image filtering ---------------------------------------------------- */

typedef enum fc_boundary { FC_BOUNDARY_FILL = 0, FC_BOUNDARY_WRAP = 1, FC_BOUNDARY_SYMM = 2 } fc_boundary;

/* Correlation of N single-channel images (H, W) -> (P, Q) with a ky x kx
 * kernel: output (p, q) reads the extended input from (p - pad_top,
 * q - pad_left); fill is the value outside under FC_BOUNDARY_FILL. */
typedef struct fc_filter_geom {
    int64_t N, H, W, P, Q, ky, kx, pad_top, pad_left;
    int boundary;
} fc_filter_geom;

/* y (+)= k (ky x kx, row-major) correlated with x */
int fc_filter2d_forward_f32(float *y, const float *x, const float *k, float fill, const fc_filter_geom *g,
                            int accumulate, int nthreads);
int fc_filter2d_forward_f64(double *y, const double *x, const double *k, double fill, const fc_filter_geom *g,
                            int accumulate, int nthreads);
/* y (+)= (ky kx^T) correlated with x, in two 1-D passes */
int fc_sepfilter_forward_f32(float *y, const float *x, const float *ky, const float *kx, float fill,
                             const fc_filter_geom *g, int accumulate, int nthreads);
int fc_sepfilter_forward_f64(double *y, const double *x, const double *ky, const double *kx, double fill,
                             const fc_filter_geom *g, int accumulate, int nthreads);

#endif
