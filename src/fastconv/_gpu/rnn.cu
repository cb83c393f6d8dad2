/* Gate kernels of step t of a recurrence (the GEMMs around them run on
 * cuBLAS).  B batch rows, H hidden units, Gn gates (LSTM 4: i f g o; GRU 3:
 * r z n; RNN 1).  Buffers over all steps, time-major: gates (T, B, Gn H),
 * holding x_t W_ih^T + bias before step t's forward and the gate
 * activations after it (row b of step t holds gate k of unit j at
 * (t B + b) Gn H + k H + j); hs, cell, hn, dy (T, B, H).  hw (B, Gn H) =
 * h_{t-1} W_hh^T, NULL when h_{t-1} = 0; h0, c0 (B, H) the states before
 * step 0, NULL for zeros.  The step index is an argument, so that a step
 * costs one launch and no views.  Thread per (b, j). */

__device__ __forceinline__ scalar_t rnn_sigmoid(scalar_t v) { return (scalar_t)1 / ((scalar_t)1 + exp(-v)); }

__device__ __forceinline__ scalar_t rnn_at(const scalar_t *a, index_t e) { return a ? a[e] : (scalar_t)0; }

/* gates = (i, f, g, o), c_t = f c_{t-1} + i g, h_t = o tanh(c_t) */
extern "C" __global__ void rnn_lstm_forward(scalar_t *__restrict__ gates, scalar_t *__restrict__ cell,
                                            scalar_t *__restrict__ hs, const scalar_t *__restrict__ hw,
                                            const scalar_t *__restrict__ c0, index_t t, index_t B, index_t H)
{
    const scalar_t *c_prev = t ? cell + (t - 1) * B * H : c0;
    CUDA_KERNEL_LOOP(e, B * H) {
        const index_t j = e % H, b = e / H, row = b * 4 * H + j;
        scalar_t *g = gates + (t * B + b) * 4 * H + j;
        scalar_t a[4];
#pragma unroll
        for (int k = 0; k < 4; k++) a[k] = g[k * H] + rnn_at(hw, row + k * H);
        const scalar_t ig = rnn_sigmoid(a[0]), fg = rnn_sigmoid(a[1]), gg = tanh(a[2]), og = rnn_sigmoid(a[3]);
        const scalar_t c = fg * rnn_at(c_prev, e) + ig * gg;
        g[0] = ig;
        g[H] = fg;
        g[2 * H] = gg;
        g[3 * H] = og;
        cell[t * B * H + e] = c;
        hs[t * B * H + e] = og * tanh(c);
    }
}

/* gates = (r, z, n), hn = W_hn h_{t-1} + b_hn, n = tanh(x_n + r hn),
 * h_t = (1 - z) n + z h_{t-1} */
extern "C" __global__ void rnn_gru_forward(scalar_t *__restrict__ gates, scalar_t *__restrict__ hn,
                                           scalar_t *__restrict__ hs, const scalar_t *__restrict__ hw,
                                           const scalar_t *__restrict__ h0, const scalar_t *__restrict__ bias_hn,
                                           index_t t, index_t B, index_t H)
{
    const scalar_t *h_prev = t ? hs + (t - 1) * B * H : h0;
    CUDA_KERNEL_LOOP(e, B * H) {
        const index_t j = e % H, b = e / H, row = b * 3 * H + j;
        scalar_t *g = gates + (t * B + b) * 3 * H + j;
        const scalar_t r = rnn_sigmoid(g[0] + rnn_at(hw, row));
        const scalar_t z = rnn_sigmoid(g[H] + rnn_at(hw, row + H));
        const scalar_t hnv = rnn_at(hw, row + 2 * H) + rnn_at(bias_hn, j);
        const scalar_t n = tanh(g[2 * H] + r * hnv);
        g[0] = r;
        g[H] = z;
        g[2 * H] = n;
        hn[t * B * H + e] = hnv;
        hs[t * B * H + e] = ((scalar_t)1 - z) * n + z * rnn_at(h_prev, e);
    }
}

/* h_t = tanh or relu of gates_t + hw (relu keeps NaN) */
extern "C" __global__ void rnn_elman_forward(scalar_t *__restrict__ hs, const scalar_t *__restrict__ gates,
                                             const scalar_t *__restrict__ hw, index_t relu, index_t t, index_t B,
                                             index_t H)
{
    CUDA_KERNEL_LOOP(e, B * H) {
        const scalar_t a = gates[t * B * H + e] + rnn_at(hw, e);
        hs[t * B * H + e] = relu ? (a < 0 ? (scalar_t)0 : a) : tanh(a);
    }
}

/* Backward of step t.  dh_t = dh_rec (B, H: what reaches h_t through step
 * t + 1, or the loss gradient at h_T; NULL for none) + dy[t] (NULL for
 * none).  dgates (T, B, Gn H) = gradients of the gate pre-activations. */

/* dc (B, H) holds dc_t on entry and dc_{t-1} on return */
extern "C" __global__ void rnn_lstm_backward(scalar_t *__restrict__ dgates, scalar_t *__restrict__ dc,
                                             const scalar_t *__restrict__ gates, const scalar_t *__restrict__ cell,
                                             const scalar_t *__restrict__ c0, const scalar_t *__restrict__ dh_rec,
                                             const scalar_t *__restrict__ dy, index_t t, index_t B, index_t H)
{
    const scalar_t *c_prev = t ? cell + (t - 1) * B * H : c0;
    const scalar_t *dyt = dy ? dy + t * B * H : dy;
    CUDA_KERNEL_LOOP(e, B * H) {
        const index_t j = e % H, at = (t * B + e / H) * 4 * H + j;
        const scalar_t dh = rnn_at(dh_rec, e) + rnn_at(dyt, e);
        const scalar_t ig = gates[at], fg = gates[at + H], gg = gates[at + 2 * H], og = gates[at + 3 * H];
        const scalar_t tc = tanh(cell[t * B * H + e]);
        const scalar_t dcv = dc[e] + dh * og * ((scalar_t)1 - tc * tc);
        dgates[at] = dcv * gg * ig * ((scalar_t)1 - ig);
        dgates[at + H] = dcv * rnn_at(c_prev, e) * fg * ((scalar_t)1 - fg);
        dgates[at + 2 * H] = dcv * ig * ((scalar_t)1 - gg * gg);
        dgates[at + 3 * H] = dh * tc * og * ((scalar_t)1 - og);
        dc[e] = dcv * fg;
    }
}

/* dgates: for W_ih (r, z, n pre-activations); dgates_h: for W_hh, the n
 * rows scaled by r (n = tanh(x_n + r hn)).  dh_dir (B, H) holds the direct
 * part of dh_t (z dh_{t+1}) on entry and that of dh_{t-1} on return. */
extern "C" __global__ void rnn_gru_backward(scalar_t *__restrict__ dgates, scalar_t *__restrict__ dgates_h,
                                            scalar_t *__restrict__ dh_dir, const scalar_t *__restrict__ gates,
                                            const scalar_t *__restrict__ hn, const scalar_t *__restrict__ hs,
                                            const scalar_t *__restrict__ h0, const scalar_t *__restrict__ dh_rec,
                                            const scalar_t *__restrict__ dy, index_t t, index_t B, index_t H)
{
    const scalar_t *h_prev = t ? hs + (t - 1) * B * H : h0;
    const scalar_t *dyt = dy ? dy + t * B * H : dy;
    CUDA_KERNEL_LOOP(e, B * H) {
        const index_t j = e % H, at = (t * B + e / H) * 3 * H + j;
        const scalar_t dh = dh_dir[e] + rnn_at(dh_rec, e) + rnn_at(dyt, e);
        const scalar_t r = gates[at], z = gates[at + H], n = gates[at + 2 * H];
        const scalar_t dn = dh * ((scalar_t)1 - z) * ((scalar_t)1 - n * n);
        const scalar_t dr = dn * hn[t * B * H + e] * r * ((scalar_t)1 - r);
        const scalar_t dz = dh * (rnn_at(h_prev, e) - n) * z * ((scalar_t)1 - z);
        dgates[at] = dgates_h[at] = dr;
        dgates[at + H] = dgates_h[at + H] = dz;
        dgates[at + 2 * H] = dn;
        dgates_h[at + 2 * H] = dn * r;
        dh_dir[e] = dh * z;
    }
}

/* dgates = dh_t act'(pre), from h_t = act(pre) */
extern "C" __global__ void rnn_elman_backward(scalar_t *__restrict__ dgates, const scalar_t *__restrict__ hs,
                                              const scalar_t *__restrict__ dh_rec, const scalar_t *__restrict__ dy,
                                              index_t relu, index_t t, index_t B, index_t H)
{
    const scalar_t *dyt = dy ? dy + t * B * H : dy;
    CUDA_KERNEL_LOOP(e, B * H) {
        const scalar_t dh = rnn_at(dh_rec, e) + rnn_at(dyt, e), h = hs[t * B * H + e];
        dgates[t * B * H + e] = relu ? (h > 0 ? dh : (scalar_t)0) : dh * ((scalar_t)1 - h * h);
    }
}
