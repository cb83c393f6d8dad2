/* Public entry points: forward each call to the kernel table of the active
 * SIMD level, chosen on first use (the best the CPU supports) or capped by
 * fc_simd_set (FASTCONV_SIMD in Python, and the tests of every level). */
#include <stdatomic.h>

#include "internal.h"

static _Atomic(const fc_isa_table *) fc_active = NULL;
static atomic_int fc_active_level = -1;

static const fc_isa_table *fc_table_for(int level)
{
#if FC_X86
    if (level >= 2) return &fc_isa_avx512;
    if (level == 1) return &fc_isa_avx2;
#endif
    (void)level;
    return &fc_isa_generic;
}

int fc_simd_set(int level)
{
    int best = fc_simd_detected();
    if (level < 0 || level > best) level = best;
#if !FC_X86
    level = 0;
#endif
    atomic_store(&fc_active, fc_table_for(level));
    atomic_store(&fc_active_level, level);
    return level;
}

static inline const fc_isa_table *fc_table(void)
{
    const fc_isa_table *t = atomic_load(&fc_active);
    if (!t) {
        fc_simd_set(-1);
        t = atomic_load(&fc_active);
    }
    return t;
}

int fc_simd_active(void)
{
    fc_table();
    return atomic_load(&fc_active_level);
}

void fc_gemm_tile(int dtype_bytes, int *mr, int *nr)
{
    const fc_isa_table *t = fc_table();
    *mr = dtype_bytes == 8 ? t->gemm_mr_f64 : t->gemm_mr_f32;
    *nr = dtype_bytes == 8 ? t->gemm_nr_f64 : t->gemm_nr_f32;
}

/* Public functions forward their arguments to the active table's entry. */
#define FC_FORWARD(ret_call) \
    {                        \
        return ret_call;     \
    }

int fc_gemm_f32(float *c, int64_t ldc, const float *a, int64_t rsa, int64_t csa, const float *b,
                int64_t rsb, int64_t csb, int64_t M, int64_t N, int64_t K, int accumulate, int nthreads)
FC_FORWARD(fc_table()->gemm_f32(c, ldc, a, rsa, csa, b, rsb, csb, M, N, K, accumulate, nthreads))

int fc_gemm_f64(double *c, int64_t ldc, const double *a, int64_t rsa, int64_t csa, const double *b,
                int64_t rsb, int64_t csb, int64_t M, int64_t N, int64_t K, int accumulate, int nthreads)
FC_FORWARD(fc_table()->gemm_f64(c, ldc, a, rsa, csa, b, rsb, csb, M, N, K, accumulate, nthreads))

int fc_conv2d_forward_f32(int algo, float *y, const float *x, const float *w, const float *bias,
                          const fc_conv_geom *g, int nthreads)
FC_FORWARD(fc_table()->conv_fwd_f32(algo, y, x, w, bias, g, nthreads))

int fc_conv2d_forward_f64(int algo, double *y, const double *x, const double *w, const double *bias,
                          const fc_conv_geom *g, int nthreads)
FC_FORWARD(fc_table()->conv_fwd_f64(algo, y, x, w, bias, g, nthreads))

int fc_conv2d_backward_input_f32(int algo, float *dx, const float *dy, const float *w,
                                 const fc_conv_geom *g, int nthreads)
FC_FORWARD(fc_table()->conv_bwd_input_f32(algo, dx, dy, w, g, nthreads))

int fc_conv2d_backward_input_f64(int algo, double *dx, const double *dy, const double *w,
                                 const fc_conv_geom *g, int nthreads)
FC_FORWARD(fc_table()->conv_bwd_input_f64(algo, dx, dy, w, g, nthreads))

int fc_conv2d_backward_weight_f32(int algo, float *dw, const float *dy, const float *x,
                                  const fc_conv_geom *g, int nthreads)
FC_FORWARD(fc_table()->conv_bwd_weight_f32(algo, dw, dy, x, g, nthreads))

int fc_conv2d_backward_weight_f64(int algo, double *dw, const double *dy, const double *x,
                                  const fc_conv_geom *g, int nthreads)
FC_FORWARD(fc_table()->conv_bwd_weight_f64(algo, dw, dy, x, g, nthreads))

int fc_max_pool2d_forward_f32(float *y, int64_t *idx, const float *x, const fc_pool_geom *g, int nthreads)
FC_FORWARD(fc_table()->pool_fwd_f32(y, idx, x, g, 0, 0, nthreads))

int fc_max_pool2d_forward_f64(double *y, int64_t *idx, const double *x, const fc_pool_geom *g, int nthreads)
FC_FORWARD(fc_table()->pool_fwd_f64(y, idx, x, g, 0, 0, nthreads))

int fc_max_pool2d_backward_f32(float *dx, const float *dy, const int64_t *idx, const fc_pool_geom *g, int nthreads)
FC_FORWARD(fc_table()->max_pool_bwd_f32(dx, dy, idx, g, nthreads))

int fc_max_pool2d_backward_f64(double *dx, const double *dy, const int64_t *idx, const fc_pool_geom *g, int nthreads)
FC_FORWARD(fc_table()->max_pool_bwd_f64(dx, dy, idx, g, nthreads))

int fc_avg_pool2d_forward_f32(float *y, const float *x, const fc_pool_geom *g, int count_include_pad, int nthreads)
FC_FORWARD(fc_table()->pool_fwd_f32(y, NULL, x, g, 1, count_include_pad, nthreads))

int fc_avg_pool2d_forward_f64(double *y, const double *x, const fc_pool_geom *g, int count_include_pad, int nthreads)
FC_FORWARD(fc_table()->pool_fwd_f64(y, NULL, x, g, 1, count_include_pad, nthreads))

int fc_avg_pool2d_backward_f32(float *dx, const float *dy, const fc_pool_geom *g, int count_include_pad, int nthreads)
FC_FORWARD(fc_table()->avg_pool_bwd_f32(dx, dy, g, count_include_pad, nthreads))

int fc_avg_pool2d_backward_f64(double *dx, const double *dy, const fc_pool_geom *g, int count_include_pad, int nthreads)
FC_FORWARD(fc_table()->avg_pool_bwd_f64(dx, dy, g, count_include_pad, nthreads))

int fc_global_avg_pool_forward_f32(float *y, const float *x, int64_t planes, int64_t n, int nthreads)
FC_FORWARD(fc_table()->gavg_fwd_f32(y, x, planes, n, nthreads))

int fc_global_avg_pool_forward_f64(double *y, const double *x, int64_t planes, int64_t n, int nthreads)
FC_FORWARD(fc_table()->gavg_fwd_f64(y, x, planes, n, nthreads))

int fc_global_avg_pool_backward_f32(float *dx, const float *dy, int64_t planes, int64_t n, int nthreads)
FC_FORWARD(fc_table()->gavg_bwd_f32(dx, dy, planes, n, nthreads))

int fc_global_avg_pool_backward_f64(double *dx, const double *dy, int64_t planes, int64_t n, int nthreads)
FC_FORWARD(fc_table()->gavg_bwd_f64(dx, dy, planes, n, nthreads))

int fc_rnn_forward_f32(float *y, float *gates, float *cell, float *hn, const float *x, const float *h0,
                       const float *c0, const float *w_ih, const float *w_hh, const float *bias,
                       const float *bias_hn, const fc_rnn_geom *g, int nthreads)
FC_FORWARD(fc_table()->rnn_fwd_f32(y, gates, cell, hn, x, h0, c0, w_ih, w_hh, bias, bias_hn, g, nthreads))

int fc_rnn_forward_f64(double *y, double *gates, double *cell, double *hn, const double *x, const double *h0,
                       const double *c0, const double *w_ih, const double *w_hh, const double *bias,
                       const double *bias_hn, const fc_rnn_geom *g, int nthreads)
FC_FORWARD(fc_table()->rnn_fwd_f64(y, gates, cell, hn, x, h0, c0, w_ih, w_hh, bias, bias_hn, g, nthreads))

int fc_rnn_backward_f32(float *dx, float *dh0, float *dc0, float *dw_ih, float *dw_hh, float *db_ih,
                        float *db_hh, float *dgates, float *dhn, const float *dy, const float *dhT,
                        const float *dcT, const float *gates, const float *cell, const float *hn,
                        const float *x, const float *y, const float *h0, const float *c0,
                        const float *w_ih, const float *w_hh, const fc_rnn_geom *g, int nthreads)
FC_FORWARD(fc_table()->rnn_bwd_f32(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT,
                                   gates, cell, hn, x, y, h0, c0, w_ih, w_hh, g, nthreads))

int fc_rnn_backward_f64(double *dx, double *dh0, double *dc0, double *dw_ih, double *dw_hh, double *db_ih,
                        double *db_hh, double *dgates, double *dhn, const double *dy, const double *dhT,
                        const double *dcT, const double *gates, const double *cell, const double *hn,
                        const double *x, const double *y, const double *h0, const double *c0,
                        const double *w_ih, const double *w_hh, const fc_rnn_geom *g, int nthreads)
FC_FORWARD(fc_table()->rnn_bwd_f64(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dhn, dy, dhT, dcT,
                                   gates, cell, hn, x, y, h0, c0, w_ih, w_hh, g, nthreads))

int fc_activation_forward_f32(int kind, float *y, const float *x, int64_t n, int nthreads)
FC_FORWARD(fc_table()->act_fwd_f32(kind, y, x, n, nthreads))

int fc_activation_forward_f64(int kind, double *y, const double *x, int64_t n, int nthreads)
FC_FORWARD(fc_table()->act_fwd_f64(kind, y, x, n, nthreads))

int fc_activation_backward_f32(int kind, float *dx, const float *dy, const float *y, int64_t outer,
                               int64_t channels, int64_t inner, float *dbias, int nthreads)
FC_FORWARD(fc_table()->act_bwd_f32(kind, dx, dy, y, outer, channels, inner, dbias, nthreads))

int fc_activation_backward_f64(int kind, double *dx, const double *dy, const double *y, int64_t outer,
                               int64_t channels, int64_t inner, double *dbias, int nthreads)
FC_FORWARD(fc_table()->act_bwd_f64(kind, dx, dy, y, outer, channels, inner, dbias, nthreads))

int fc_optim_update_f32(int kind, float *w, const float *g, float *s1, float *s2, int64_t n, const double *hp,
                        int nthreads)
FC_FORWARD(fc_table()->optim_f32(kind, w, g, s1, s2, n, hp, nthreads))

int fc_optim_update_f64(int kind, double *w, const double *g, double *s1, double *s2, int64_t n,
                        const double *hp, int nthreads)
FC_FORWARD(fc_table()->optim_f64(kind, w, g, s1, s2, n, hp, nthreads))

int fc_filter2d_forward_f32(float *y, const float *x, const float *k, float fill, const fc_filter_geom *g,
                            int accumulate, int nthreads)
FC_FORWARD(fc_table()->f2d_fwd_f32(y, x, k, fill, g, accumulate, nthreads))

int fc_filter2d_forward_f64(double *y, const double *x, const double *k, double fill, const fc_filter_geom *g,
                            int accumulate, int nthreads)
FC_FORWARD(fc_table()->f2d_fwd_f64(y, x, k, fill, g, accumulate, nthreads))

int fc_sepfilter_forward_f32(float *y, const float *x, const float *ky, const float *kx, float fill,
                             const fc_filter_geom *g, int accumulate, int nthreads)
FC_FORWARD(fc_table()->sep_fwd_f32(y, x, ky, kx, fill, g, accumulate, nthreads))

int fc_sepfilter_forward_f64(double *y, const double *x, const double *ky, const double *kx, double fill,
                             const fc_filter_geom *g, int accumulate, int nthreads)
FC_FORWARD(fc_table()->sep_fwd_f64(y, x, ky, kx, fill, g, accumulate, nthreads))
