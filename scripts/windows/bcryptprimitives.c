/* Wine 8 has no bcryptprimitives.dll, whose ProcessPrng is how Rust's
 * standard library gets random bytes on Windows 10 and later (where the DLL
 * always exists). scripts/windows.sh builds this stand-in into the test
 * Wine prefix only; it never ships. It draws from the same system RNG. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
