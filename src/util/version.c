/* version.c - the library's version, for programs linked against librelief. */
#include "relief/relief.h"

const char *relief_version(void)
{
    return RELIEF_VERSION_STRING;
}
