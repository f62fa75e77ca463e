/* SPDX-License-Identifier: MIT */
/*
 * reload.c - SIGHUP: read the configuration again and apply what changed.
 *
 * The file, with the --set overrides on top as at start, is read into a
 * fresh configuration and validated whole before anything changes, so a
 * broken file changes nothing. Each runtime key whose value differs from
 * the running one then goes through config_set_runtime() and the setters
 * of runtime_keys.c, the path of 'swapdevctl config set', so that every
 * runtime transition has one home. Keys that only change at start are
 * reported, old and new value, and left as they are.
 *
 * The comparison is with the running values, not with the file as last
 * read: the file wins, and a value set with 'swapdevctl config set' goes
 * back to the file's (logged with both values, like every applied key).
 * An administrator who edits the file and reloads expects the daemon to
 * run what the file says.
 *
 * Keys go in one at a time, each validated with the rest, so a pair the
 * validation ties together (the watermarks) can be refused in one order
 * and accepted in the other: the keys left are tried again as long as a
 * round applies one.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "reload.h"
#include "runtime_keys.h"

/* Every key name with a separator fits (23 keys of under 32 characters). */
#define KEY_LIST_MAX 1024

struct key_list {
	char text[KEY_LIST_MAX];
	unsigned count;
};

static void key_list_add(struct key_list *list, const char *key)
{
	size_t used = strlen(list->text);

	snprintf(list->text + used, sizeof(list->text) - used, "%s%s", list->count++ ? ", " : "",
		 key);
}

/* Set key in the running configuration to its value in next. 0 or -errno. */
static int apply_key(const struct reload_target *t, const struct swapdev_config *next,
		     const char *key, struct key_list *applied, struct config_error *error)
{
	char value[CONFIG_VALUE_MAX], old[CONFIG_VALUE_MAX];
	int r;

	r = config_get(next, key, value, sizeof(value));
	if (r < 0)
		return r;
	r = config_set_runtime(t->config, key, value, runtime_key_apply, t->store, old, error);
	if (r < 0)
		return r;
	log_notice("reload: %s=%s (was %s)", key, value, old);
	key_list_add(applied, key);
	return 0;
}

static void apply_runtime_keys(const struct reload_target *t, const struct swapdev_config *next,
			       struct key_list *applied, struct key_list *failed)
{
	struct config_error error;
	bool progress = true;

	while (progress) {
		progress = false;
		for (const char *const *key = config_keys; *key; key++)
			if (config_key_is_runtime(*key) &&
			    config_key_changed(t->config, next, *key))
				progress |= apply_key(t, next, *key, applied, &error) == 0;
	}
	/* What is left failed in the last round and fails again the same way. */
	for (const char *const *key = config_keys; *key; key++) {
		if (!config_key_is_runtime(*key) || !config_key_changed(t->config, next, *key))
			continue;
		if (apply_key(t, next, *key, applied, &error) < 0) {
			log_warning("reload: %s not applied: %s", *key, error.message);
			key_list_add(failed, *key);
		}
	}
}

static void report_restart_keys(const struct reload_target *t, const struct swapdev_config *next,
				struct key_list *restart)
{
	char old[CONFIG_VALUE_MAX], new[CONFIG_VALUE_MAX];
	int r;

	for (const char *const *key = config_keys; *key; key++) {
		if (config_key_is_runtime(*key) || !config_key_changed(t->config, next, *key))
			continue;
		r = config_get(t->config, *key, old, sizeof(old));
		if (r == 0)
			r = config_get(next, *key, new, sizeof(new));
		assert(r == 0); /* CONFIG_VALUE_MAX holds any key's text */
		log_warning("reload: %s changed from %s to %s: needs a restart (stop and start; "
			    "'swapdevctl restart' keeps the running value), still %s",
			    *key, old, new, old);
		key_list_add(restart, *key);
	}
}

/* "; LABEL KEYS" after what summary holds, nothing for no keys. */
static void summary_add(char *summary, size_t size, const char *label, const struct key_list *keys)
{
	size_t used = strlen(summary);

	if (keys->count)
		snprintf(summary + used, size - used, "%s%s %s", used ? "; " : "", label,
			 keys->text);
}

int reload_config(const struct reload_target *t)
{
	struct key_list applied = { 0 }, restart = { 0 }, failed = { 0 };
	char summary[3 * KEY_LIST_MAX + 64] = "";
	const char *path = t->source->path;
	struct swapdev_config next;
	bool file_read;
	int r;

	r = config_source_load(t->source, &next, &file_read);
	if (r < 0) {
		log_error("reload of %s failed: nothing changed, still running on the previous "
			  "configuration",
			  path);
		return r;
	}
	pthread_mutex_lock(t->config_lock);
	apply_runtime_keys(t, &next, &applied, &failed);
	report_restart_keys(t, &next, &restart);
	pthread_mutex_unlock(t->config_lock);
	config_done(&next);

	summary_add(summary, sizeof(summary), "applied", &applied);
	summary_add(summary, sizeof(summary), "needs a restart:", &restart);
	summary_add(summary, sizeof(summary), "not applied:", &failed);
	log_notice("reloaded %s%s: %s", path, file_read ? "" : " (not found: built-in defaults)",
		   summary[0] ? summary : "no change");
	return 0;
}
