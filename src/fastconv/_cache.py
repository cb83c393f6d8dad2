"""A bounded cache of plans, keyed on everything that affects a call's
result (shapes, dtypes, the arguments as given).  Lookups cost one tuple
hash; an argument that cannot be hashed (a list) simply is not cached.  The
oldest entry goes when the cache is full.  Safe to share between threads
(a plan is immutable; two threads making the same plan at once both get a
correct one)."""


def plain(*values):
    """Whether every value is of a form a cached plan may stand for: an int
    (not a bool), a str, None, or a tuple of such ints (or of such tuples).
    Keys compare by ==, and 2.0 == 2 == True: a float or bool argument must
    take the checking path (and its error), not hit the plan of the int."""
    for v in values:
        t = type(v)
        if t is int or t is str or v is None:
            continue
        if t is tuple and all(type(e) is int or (type(e) is tuple and all(type(f) is int for f in e)) for e in v):
            continue
        return False
    return True


class PlanCache:
    __slots__ = ("_plans", "size")

    def __init__(self, size=512):
        self._plans = {}
        self.size = size

    def get(self, key):
        try:
            return self._plans.get(key)
        except TypeError:  # an unhashable argument
            return None

    def put(self, key, plan):
        """Keeps plan under key (if key can be hashed); returns plan."""
        try:
            hash(key)
        except TypeError:
            return plan
        plans = self._plans
        while len(plans) >= self.size:
            try:
                plans.pop(next(iter(plans)), None)
            except (StopIteration, RuntimeError):  # emptied or changed by another thread meanwhile
                break
        plans[key] = plan
        return plan

    def clear(self):
        self._plans.clear()

    def __len__(self):
        return len(self._plans)
