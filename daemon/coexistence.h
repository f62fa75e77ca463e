/* SPDX-License-Identifier: MIT */
/*
 * coexistence.h - what else on the machine would undermine swapdev: zswap
 * compressing pages before they reach it, another swap area at the same or
 * a higher priority, a backing file on a file system whose O_DIRECT or
 * preallocation cannot be trusted.
 */
#pragma once

#include "config.h"

/*
 * Check the machine against config and log each finding, as an error when
 * device.refuse_conflicts is on, else as a warning. Reads /sys, /proc and
 * the backing file's directory only. Returns the number of findings.
 */
unsigned coexistence_check(const struct swapdev_config *config);
