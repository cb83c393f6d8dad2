"""Transform sizes: the lengths FFTW (and cuFFT) transform fastest."""


def fast_length(n):
    """The smallest 5-smooth integer >= n: sizes FFTW transforms fastest
    (radix 7 and larger primes are measurably slower here)."""
    if n <= 6:
        return max(n, 1)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p3 = p5
        while p3 < best:
            p2 = p3
            while p2 < n:
                p2 *= 2
            best = min(best, p2)
            p3 *= 3
        p5 *= 5
    return best
