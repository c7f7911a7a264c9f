#include "core/compat.h"

/* Filled by the transform-jobs issue (docs/internals/protocol.md). */
