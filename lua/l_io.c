/* l_io.c: repro.core.io: the file plumbing checkpoints need and Lua lacks:
 * a checksum of tensor bytes, fsync, and a directory listing.
 *
 *   io.fnv1a64(tensor | string) -> 16 hex digits (FNV-1a 64 over the bytes;
 *       a tensor is hashed in contiguous order, little-endian element bytes)
 *   io.fsync(path)   -> true, or nil + message (files and directories)
 *   io.listdir(path) -> sorted array of entry names, or nil + message
 *   io.isdir(path)   -> boolean
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "l_common.h"

/* FNV-1a 64: tiny, dependency-free, and enough to catch torn or flipped
 * bytes (it is not a defence against deliberate tampering). */
static uint64_t fnv1a64(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

static int io_fnv1a64(lua_State *L)
{
    uint64_t h = FNV_OFFSET;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        h = fnv1a64(h, (const unsigned char *)s, n);
    } else {
        rp_tensor *t = l_checktensor(L, 1);
        rp_tensor *c = rp_copy_contiguous(t);
        if (!c) return l_corerror(L);
        size_t nb = (size_t)rp_numel(c) * rp_dtype_info[c->dtype].size;
        h = fnv1a64(h, nb ? rp_data(c) : (const unsigned char *)"", nb);
        rp_tensor_release(c);
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    lua_pushstring(L, hex);
    return 1;
}

static int fail(lua_State *L, const char *what, const char *path, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s '%s': %s", what, path, strerror(err));
    return 2;
}

static int io_fsync(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail(L, "fsync: cannot open", path, errno);
    if (fsync(fd) != 0 && errno != EINVAL) { /* EINVAL: the file system cannot sync (fine) */
        int e = errno;
        close(fd);
        return fail(L, "fsync: cannot sync", path, e);
    }
    close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

static int io_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    DIR *d = opendir(path);
    if (!d) return fail(L, "listdir: cannot open", path, errno);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    /* readdir may not raise while the DIR is open: pushes can only fail on
     * memory exhaustion, which Lua reports after we return anyway */
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, 2, ++n);
    }
    closedir(d);
    lua_getglobal(L, "table");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "sort");
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, 2);
            lua_call(L, 1, 0);
        }
    }
    lua_settop(L, 2);
    return 1;
}

static int io_isdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    lua_pushboolean(L, stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

int l_open_io(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"fnv1a64", io_fnv1a64},
        {"fsync", io_fsync},
        {"listdir", io_listdir},
        {"isdir", io_isdir},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
