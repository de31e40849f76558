/* Preloaded into gdb after the ASan runtime (gdb-asan), so that gdb can load pyxray's sanitized
 * module (docs/testing.md, "Sanitizers").
 *
 * With the ASan runtime merely preloaded into gdb (which is not instrumented), gdb 13 on Debian 12
 * hangs before main(): a library constructor (libp11-kit's, pulled in through libdebuginfod and
 * gnutls) calls newlocale(), which takes glibc's locale lock and calls malloc(); that first malloc
 * initialises ASan, whose initialisation calls dlsym() -> dlerror() -> dcgettext(), which takes the
 * same lock again. The lock ends up corrupt and gdb's own setlocale() in main() waits forever.
 *
 * This newlocale() runs first (preloaded objects come before libc in symbol lookup): it makes one
 * allocation (initialising ASan outside the lock), then calls the real newlocale(). Built without
 * sanitizers. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <locale.h>
#include <stdlib.h>

typedef locale_t (*newlocale_fn)(int, const char*, locale_t);

locale_t newlocale(int category_mask, const char* locale, locale_t base) {
  static newlocale_fn real;
  if (!real) {
    void* volatile first = malloc(1); /* volatile: the compiler must not drop the pair */
    free(first);
    real = (newlocale_fn)dlsym(RTLD_NEXT, "newlocale");
    if (!real) abort();
  }
  return real(category_mask, locale, base);
}
