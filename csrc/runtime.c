/* Runtime services of the compiled core: thread count, per-thread scratch
 * memory, and detection of the SIMD level the CPU and OS support. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

/* ---- threads ------------------------------------------------------------- */

static atomic_int fc_threads = 0; /* 0: OpenMP's default */

int fc_get_num_threads(void)
{
    int n = atomic_load(&fc_threads);
    return n > 0 ? n : omp_get_max_threads();
}

void fc_set_num_threads(int n) { atomic_store(&fc_threads, n > 0 ? n : 0); }

int fc_resolve_threads(int nthreads) { return nthreads > 0 ? nthreads : fc_get_num_threads(); }

/* ---- scratch ------------------------------------------------------------- */

typedef struct fc_slot {
    void *p;
    size_t n;
} fc_slot;

static _Thread_local fc_slot fc_slots[FC_SCRATCH_SLOTS];
static pthread_key_t fc_slots_key;
static pthread_once_t fc_slots_once = PTHREAD_ONCE_INIT;

static void fc_slots_free(void *arg)
{
    fc_slot *s = arg;
    for (int i = 0; i < FC_SCRATCH_SLOTS; i++) {
        free(s[i].p);
        s[i].p = NULL;
        s[i].n = 0;
    }
}

static void fc_slots_make_key(void) { pthread_key_create(&fc_slots_key, fc_slots_free); }

void *fc_scratch(int slot, size_t bytes)
{
    fc_slot *s = &fc_slots[slot];
    if (s->p && s->n >= bytes) return s->p;
    pthread_once(&fc_slots_once, fc_slots_make_key);
    pthread_setspecific(fc_slots_key, fc_slots); /* frees the slots at thread exit */
    free(s->p);
    /* grow by a quarter more than asked, so slowly growing requests settle */
    size_t n = bytes + bytes / 4;
    n = (n + 63) / 64 * 64;
    if (n < 64) n = 64;
    s->p = aligned_alloc(64, n);
    s->n = s->p ? n : 0;
    return s->p;
}

/* ---- SIMD level ----------------------------------------------------------- */

int fc_simd_detected(void)
{
#if FC_X86 && defined(__GNUC__)
    /* libgcc's checks include the OS enabling the vector state (XGETBV) */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

const char *fc_simd_name(int level)
{
    switch (level) {
    case 2: return "avx512";
    case 1: return "avx2";
    default: return "generic";
    }
}
