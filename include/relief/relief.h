/*
 * relief/relief.h - the whole public API of librelief in one include: the
 * guidance engine (guide.h), the gpt-oss inference engine (llm.h) and the
 * hybrid responder (hybrid.h). Link with `pkg-config --libs relief`.
 */
#ifndef RELIEF_RELIEF_H
#define RELIEF_RELIEF_H

#include "relief/guide.h"
#include "relief/hybrid.h"
#include "relief/llm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RELIEF_VERSION_STRING "0.1.0"

/* Returns the library's version ("0.1.0"); never fails. The string is static. */
const char *relief_version(void);

#ifdef __cplusplus
}
#endif
#endif
