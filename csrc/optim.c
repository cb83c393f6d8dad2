/* Optimizer updates   (template, see internal.h)
 *
 * One fused pass over a parameter array per step: the gradient (plus L2
 * weight decay), the optimizer's state and the parameter are read once and
 * written once, where the NumPy expression of the same update makes about
 * ten passes and as many temporaries.  The arithmetic is that of
 * torch.optim (and of fastconv.nn's documented rules), in the element type.
 *
 *   FC_OPT_SGD      hp = {lr, wd, momentum, nesterov}; s1 = velocity
 *       g += wd w; v = momentum v + g; w -= lr (nesterov ? g + momentum v : v)
 *       (no momentum: w -= lr g, s1 unused)
 *   FC_OPT_ADAGRAD  hp = {lr, wd, eps}; s1 = accumulator
 *       g += wd w; a += g^2; w -= lr g / (sqrt(a) + eps)
 *   FC_OPT_RMSPROP  hp = {lr, wd, rho, eps, momentum}; s1 = square, s2 = velocity
 *       g += wd w; s = rho s + (1 - rho) g^2; d = lr g / (sqrt(s) + eps);
 *       momentum: v = momentum v + d, d = v; w -= d
 *   FC_OPT_ADAM     hp = {lr_t, wd, beta1, beta2, eps_t}; s1 = m, s2 = v
 *       g += wd w; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *       w -= lr_t m / (sqrt(v) + eps_t)   (bias corrections folded into
 *       lr_t and eps_t by the caller)
 */

#include <math.h>
#undef OPT_SQRT
#if FC_DOUBLE
#define OPT_SQRT(a) sqrt(a)
#else
#define OPT_SQRT(a) sqrtf(a)
#endif

/* (the caller's team, or one thread: omp_get_num_threads() is 1 outside a region) */
static void FCN(optim_update_part)(int kind, T *w, const T *g, T *s1, T *s2, int64_t n, const double *hp, T lr,
                                   T wd)
{
    fc_fpstate fp = fc_fp_enter();
    int64_t i0, i1;
    fc_split_range(n, omp_get_num_threads(), omp_get_thread_num(), &i0, &i1);
    switch (kind) {
    case FC_OPT_SGD: {
        const T mom = (T)hp[2];
        const int nesterov = hp[3] != 0;
        if (mom == 0) {
            for (int64_t i = i0; i < i1; i++) w[i] -= lr * (g[i] + wd * w[i]);
        } else if (nesterov) {
            for (int64_t i = i0; i < i1; i++) {
                const T gi = g[i] + wd * w[i], v = mom * s1[i] + gi;
                s1[i] = v;
                w[i] -= lr * (gi + mom * v);
            }
        } else {
            for (int64_t i = i0; i < i1; i++) {
                const T v = mom * s1[i] + (g[i] + wd * w[i]);
                s1[i] = v;
                w[i] -= lr * v;
            }
        }
        break;
    }
    case FC_OPT_ADAGRAD: {
        const T eps = (T)hp[2];
        for (int64_t i = i0; i < i1; i++) {
            const T gi = g[i] + wd * w[i], a = s1[i] + gi * gi;
            s1[i] = a;
            w[i] -= lr * gi / (OPT_SQRT(a) + eps);
        }
        break;
    }
    case FC_OPT_RMSPROP: {
        const T rho = (T)hp[2], eps = (T)hp[3], mom = (T)hp[4];
        for (int64_t i = i0; i < i1; i++) {
            const T gi = g[i] + wd * w[i], s = rho * s1[i] + (1 - rho) * (gi * gi);
            s1[i] = s;
            T d = lr * gi / (OPT_SQRT(s) + eps);
            if (mom != 0) {
                d += mom * s2[i];
                s2[i] = d;
            }
            w[i] -= d;
        }
        break;
    }
    default: { /* FC_OPT_ADAM */
        const T b1 = (T)hp[2], b2 = (T)hp[3], eps = (T)hp[4];
        for (int64_t i = i0; i < i1; i++) {
            const T gi = g[i] + wd * w[i];
            const T m = b1 * s1[i] + (1 - b1) * gi, v = b2 * s2[i] + (1 - b2) * (gi * gi);
            s1[i] = m;
            s2[i] = v;
            w[i] -= lr * m / (OPT_SQRT(v) + eps);
        }
        break;
    }
    }
    fc_fp_leave(fp);
}

static int FCN(optim_update)(int kind, T *w, const T *g, T *s1, T *s2, int64_t n, const double *hp,
                             int nthreads)
{
    /* below ~256K elements a second thread costs more to wake than it saves */
    const int nt = n < (1 << 18) ? 1 : fc_resolve_threads(nthreads);
    const T lr = (T)hp[0], wd = (T)hp[1];
    FC_TEAM(nt, FCN(optim_update_part)(kind, w, g, s1, s2, n, hp, lr, wd));
    return FC_OK;
}
