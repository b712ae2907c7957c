/*
 * The wasm backend's guest: QuickJS (quickjs-ng) compiled to wasm32-wasi,
 * behind a small ABI the host drives (see ../abi.rs, which mirrors every
 * number defined here).
 *
 * The host owns everything with authority: module resolution, file sources,
 * host functions, console output and the kill flag are imports, so the
 * guest can reach nothing the host does not hand it. The guest only turns
 * JavaScript values into bytes (JSON, console text, failure records) and
 * back, with the same rules as the in-process engine
 * (../in_process/engine.rs), so every backend reports the same outcomes.
 *
 * quickjs.c is included rather than linked: quickjs-ng sets no stack limit
 * on WASI, and this file needs the runtime's internals (rt->stack_limit) and
 * a hook on how QuickJS reads the stack pointer to give it one (below).
 */

#include <stdint.h>

/*
 * Stack accounting. QuickJS bounds recursion by the distance between a
 * "stack pointer" (js_get_stack_pointer, i.e. __builtin_frame_address) and
 * rt->stack_limit. In wasm there are two stacks: the shadow stack in linear
 * memory (address-taken locals, QuickJS's frame allocas) and the engine's
 * native stack (every wasm frame), which C code cannot see. Either can run
 * out first depending on the path (JavaScript calls are shadow-heavy; JSON,
 * the parser and regexps native-heavy), and running out of either traps.
 * So the position QuickJS reads is virtual: just under STACK_BASE plus the
 * smaller of what is left on each stack (the host reports the native one),
 * with the limit at STACK_BASE. QuickJS's own checks then fire when either
 * stack is nearly used up, and recursion ends in a catchable RangeError, as
 * on every backend. Redefining the builtin is the one hook quickjs.c offers:
 * it is only used there to read the stack pointer.
 */
static uintptr_t stack_position(void);
#define __builtin_frame_address(level) ((void *)stack_position())
#include "quickjs.c"
#undef __builtin_frame_address

#include <errno.h>

#define IMPORT(name) __attribute__((import_module("hyperlight"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

/* --- statuses (abi.rs: Status) ---------------------------------------- */
enum {
    ST_OK = 0,
    ST_THROWN = 1,           /* uncaught exception: failure record */
    ST_BAD_EVENT = 2,        /* the event did not parse: failure record */
    ST_NOT_SERIALIZABLE = 3, /* the result has no JSON form: failure record */
    ST_RESULT_UNDEFINED = 4, /* JSON.stringify gave undefined */
    ST_OUT_OF_MEMORY = 5,    /* the guest could not even describe what happened */
    ST_NOT_A_FUNCTION = 6,   /* the handler binding is not a function */
    ST_BAD_ARGUMENT = 7,     /* the host passed something unusable */
    ST_OK_BYTES = 8,         /* the result is a Uint8Array: the output text is its bytes */
};

/* Replies to imports (abi.rs: Reply). */
enum { REPLY_OK = 0, REPLY_ERROR = 1, REPLY_HOST_MODULE = 2, REPLY_BYTES = 3 };
#define NO_HOST_ERROR 0xFFFFFFFFu

typedef struct {
    uint32_t status;
    uint32_t len;
    uint32_t tag;
} Reply;

/*
 * What a call leaves for the host to read (abi.rs: Output). For a thrown
 * value it is a description, not a message: the host's outcome.rs decides
 * what is reported, as it does for every backend.
 */
typedef struct {
    char *text;        /* result JSON; for a thrown value, its String() form if shown */
    uint32_t text_len;
    char *stack;       /* the thrown value's stack, or NULL */
    uint32_t stack_len;
    uint32_t host_error; /* id of the host failure behind the exception */
    char *name;        /* the thrown value's name, or NULL */
    uint32_t name_len;
    char *message;     /* the thrown value's message, or NULL */
    uint32_t message_len;
    uint32_t is_error; /* the thrown value is an Error */
} Output;

IMPORT(should_stop) int32_t host_should_stop(void);
IMPORT(native_stack_left) uint32_t host_native_stack_left(void);
IMPORT(print) void host_print(const char *text, uint32_t len);
IMPORT(resolve) void host_resolve(const char *base, uint32_t base_len, const char *name, uint32_t name_len,
                                  Reply *reply);
IMPORT(load) void host_load(const char *name, uint32_t name_len, Reply *reply);
/* A Uint8Array argument of a host call (abi.rs: BINARY_ARGUMENT_SIZE). */
typedef struct {
    uint32_t index; /* its position among the arguments */
    const uint8_t *data;
    uint32_t len;
} BinaryArgument;

IMPORT(call) void host_call(uint32_t module, uint32_t function, const char *args, uint32_t args_len,
                            const BinaryArgument *binary, uint32_t binary_count, Reply *reply);
IMPORT(take_reply) void host_take_reply(char *dst);
IMPORT(drop_reply) void host_drop_reply(void);

static JSRuntime *rt;
static JSContext *ctx;
static JSValue *handlers;
static uint32_t handler_count;
static bool print_enabled;
static Output output;

#define HOST_ERROR_ID "__hyperlight_host_error_id"
#define HANDLER_BINDING "__hyperlight_handler"

/* --- the heap --------------------------------------------------------- */

/*
 * dlmalloc's break, kept in linear memory rather than read from
 * memory.size: a restore puts linear memory back as it was, but cannot
 * shrink it, so the break must be part of the restored state for the
 * allocator to carry on exactly where the snapshot left it.
 */
static uintptr_t heap_break;

void *sbrk(intptr_t increment) {
    const uint64_t page = 65536;
    if (heap_break == 0)
        heap_break = (uintptr_t)(__builtin_wasm_memory_size(0) * page);
    if (increment == 0)
        return (void *)heap_break;
    if (increment < 0 || (uint64_t)heap_break + (uint64_t)increment > UINT32_MAX) {
        errno = ENOMEM;
        return (void *)-1;
    }
    uint64_t end = (uint64_t)heap_break + (uint64_t)increment;
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * page;
    if (end > have) {
        /* The host's resource limiter decides; a refusal is recorded there. */
        if (__builtin_wasm_memory_grow(0, (end - have + page - 1) / page) == SIZE_MAX) {
            errno = ENOMEM;
            return (void *)-1;
        }
    }
    void *old = (void *)heap_break;
    heap_break = (uintptr_t)end;
    return old;
}

EXPORT(hl_alloc) char *hl_alloc(uint32_t len) { return malloc(len ? len : 1); }

EXPORT(hl_free) void hl_free(char *ptr) { free(ptr); }

EXPORT(hl_output) Output *hl_output(void) { return &output; }

static void clear_output(void) {
    free(output.text);
    free(output.stack);
    free(output.name);
    free(output.message);
    memset(&output, 0, sizeof(output));
    output.host_error = NO_HOST_ERROR;
}

static char *copy_bytes(const char *bytes, size_t len) {
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, bytes, len);
        copy[len] = 0;
    }
    return copy;
}

/* Sets the output text; false when even that cannot be allocated. */
static bool set_text(const char *text, size_t len) {
    free(output.text);
    output.text = copy_bytes(text, len);
    output.text_len = output.text ? (uint32_t)len : 0;
    return output.text != NULL;
}

/* A reply's bytes, NUL-terminated, or NULL if they do not fit in the heap
   (the host then drops them). */
static char *take_reply(const Reply *reply) {
    char *bytes = malloc((size_t)reply->len + 1);
    if (!bytes) {
        host_drop_reply();
        return NULL;
    }
    host_take_reply(bytes);
    bytes[reply->len] = 0;
    return bytes;
}

/* --- values as text --------------------------------------------------- */

/* Clears a pending exception, keeping an uncatchable one (a kill): that one
   must reach the top. */
static bool clear_catchable(void) {
    JSValue pending = JS_GetException(ctx);
    bool uncatchable = JS_IsUncatchableError(pending);
    if (uncatchable)
        JS_Throw(ctx, pending);
    else
        JS_FreeValue(ctx, pending);
    return !uncatchable;
}

/* A malloc'd string for `value`: strings as they are, objects as JSON where
   they have one, anything else as String(value) prints it. */
static char *display(JSValueConst value, size_t *len) {
    const char *text;
    if (JS_IsObject(value) && !JS_IsFunction(ctx, value) && !JS_IsError(value)) {
        JSValue json = JS_JSONStringify(ctx, value, JS_UNDEFINED, JS_UNDEFINED);
        if (JS_IsException(json)) {
            clear_catchable();
        } else if (JS_IsString(json)) {
            text = JS_ToCStringLen(ctx, len, json);
            JS_FreeValue(ctx, json);
            if (text) {
                char *copy = copy_bytes(text, *len);
                JS_FreeCString(ctx, text);
                return copy;
            }
            clear_catchable();
        } else {
            JS_FreeValue(ctx, json);
        }
    }
    text = JS_ToCStringLen(ctx, len, value);
    if (!text) {
        clear_catchable();
        static const char unprintable[] = "<unprintable value>";
        *len = sizeof(unprintable) - 1;
        return copy_bytes(unprintable, *len);
    }
    char *copy = copy_bytes(text, *len);
    JS_FreeCString(ctx, text);
    return copy;
}

/* A property as a malloc'd string; NULL when absent, null/undefined, or
   when reading it throws (the exception is dropped, as the in-process engine
   does). */
static char *property_text(JSValueConst object, const char *key, size_t *len) {
    JSValue value = JS_GetPropertyStr(ctx, object, key);
    if (JS_IsException(value)) {
        clear_catchable();
        return NULL;
    }
    if (JS_IsUndefined(value) || JS_IsNull(value)) {
        JS_FreeValue(ctx, value);
        return NULL;
    }
    const char *text = JS_ToCStringLen(ctx, len, value);
    JS_FreeValue(ctx, value);
    if (!text) {
        clear_catchable();
        return NULL;
    }
    char *copy = copy_bytes(text, *len);
    JS_FreeCString(ctx, text);
    return copy;
}

/*
 * Describes the pending exception in the output record — name, message,
 * stack, whether it is an Error, the host failure behind it, and its
 * String() form when it has no usable name and message — and returns
 * `status`, or ST_OUT_OF_MEMORY when the record itself cannot be built.
 */
static int32_t report_exception(int32_t status) {
    JSValue thrown = JS_GetException(ctx);
    clear_output();
    bool is_object = JS_IsObject(thrown);
    size_t name_len = 0, message_len = 0, stack_len = 0;
    char *name = is_object ? property_text(thrown, "name", &name_len) : NULL;
    char *message = is_object ? property_text(thrown, "message", &message_len) : NULL;
    bool is_error = is_object && JS_IsError(thrown);
    if (is_object) {
        JSValue id = JS_GetPropertyStr(ctx, thrown, HOST_ERROR_ID);
        if (JS_IsException(id)) {
            clear_catchable();
        } else {
            uint32_t host_error;
            if (JS_IsNumber(id) && JS_ToUint32(ctx, &host_error, id) == 0)
                output.host_error = host_error;
            JS_FreeValue(ctx, id);
        }
    }
    bool ok = true;
    /* outcome.rs: Thrown::needs_display. String(value) may run guest code
       (a toString), so it is asked for only when it will be shown. */
    if (!(name && ((message && message_len > 0) || is_error))) {
        size_t len;
        char *text = display(thrown, &len);
        if (text) {
            output.text = text;
            output.text_len = (uint32_t)len;
        } else {
            ok = false;
        }
    }
    char *stack = is_object ? property_text(thrown, "stack", &stack_len) : NULL;
    if (stack && stack_len > 0) {
        output.stack = stack;
        output.stack_len = (uint32_t)stack_len;
    } else {
        free(stack);
    }
    output.name = name;
    output.name_len = (uint32_t)name_len;
    output.message = message;
    output.message_len = (uint32_t)message_len;
    output.is_error = is_error;
    JS_FreeValue(ctx, thrown);
    return ok ? status : ST_OUT_OF_MEMORY;
}

/* --- console ---------------------------------------------------------- */

static JSValue console_log(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    if (!print_enabled)
        return JS_UNDEFINED;
    size_t total = 0, cap = 64;
    char *line = malloc(cap);
    if (!line)
        return JS_ThrowOutOfMemory(c);
    for (int i = 0; i < argc; i++) {
        size_t len;
        char *text = display(argv[i], &len);
        if (!text) {
            free(line);
            return JS_ThrowOutOfMemory(c);
        }
        size_t need = total + len + 2;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            char *grown = realloc(line, cap);
            if (!grown) {
                free(text);
                free(line);
                return JS_ThrowOutOfMemory(c);
            }
            line = grown;
        }
        if (i > 0)
            line[total++] = ' ';
        memcpy(line + total, text, len);
        total += len;
        free(text);
        if (JS_HasException(c)) { /* a kill arrived while formatting */
            free(line);
            return JS_EXCEPTION;
        }
    }
    /* Upstream's console.log ends its line with a newline (the print
       function receives it); the "+ 2" above left room for it. */
    line[total++] = '\n';
    host_print(line, (uint32_t)total);
    free(line);
    return JS_UNDEFINED;
}

/* The global `print`: String(text) as it is, no newline (upstream's
   io.print; builtins.js wraps it as the "io" module's print). */
static JSValue raw_print(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    if (!print_enabled)
        return JS_UNDEFINED;
    size_t len;
    const char *text = JS_ToCStringLen(c, &len, argc > 0 ? argv[0] : JS_UNDEFINED);
    if (!text)
        return JS_EXCEPTION;
    host_print(text, (uint32_t)len);
    JS_FreeCString(c, text);
    return JS_UNDEFINED;
}

static int install_console(void) {
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue console = JS_NewObject(ctx);
    JSValue log = JS_NewCFunction(ctx, console_log, "log", 0);
    JSValue print = JS_NewCFunction(ctx, raw_print, "print", 1);
    static const char *const levels[] = {"log", "info", "warn", "error", "debug"};
    int failed = JS_IsException(console) || JS_IsException(log) || JS_IsException(print);
    for (size_t i = 0; !failed && i < countof(levels); i++)
        failed = JS_SetPropertyStr(ctx, console, levels[i], JS_DupValue(ctx, log)) < 0;
    if (!failed)
        failed = JS_SetPropertyStr(ctx, global, "console", JS_DupValue(ctx, console)) < 0;
    if (!failed)
        failed = JS_SetPropertyStr(ctx, global, "print", JS_DupValue(ctx, print)) < 0;
    JS_FreeValue(ctx, print);
    JS_FreeValue(ctx, log);
    JS_FreeValue(ctx, console);
    JS_FreeValue(ctx, global);
    return failed ? -1 : 0;
}

/* --- modules ---------------------------------------------------------- */

static char *normalize_module(JSContext *c, const char *base, const char *name, void *opaque) {
    (void)opaque;
    Reply reply = {0};
    host_resolve(base, (uint32_t)strlen(base), name, (uint32_t)strlen(name), &reply);
    char *text = take_reply(&reply);
    if (!text) {
        JS_ThrowOutOfMemory(c);
        return NULL;
    }
    if (reply.status != REPLY_OK) {
        JS_ThrowReferenceError(c, "%s", text);
        free(text);
        return NULL;
    }
    char *normalized = js_strdup(c, text);
    free(text);
    return normalized;
}

/* The bytes of a Uint8Array argument, or NULL data for any other value
   (-1: a detached or out-of-bounds one, with a TypeError thrown). */
static int binary_argument(JSContext *c, JSValueConst arg, uint32_t index, BinaryArgument *out) {
    out->index = index;
    out->data = NULL;
    out->len = 0;
    if (JS_GetTypedArrayType(arg) != JS_TYPED_ARRAY_UINT8)
        return 0;
    size_t len;
    uint8_t *data = JS_GetUint8Array(c, &len, arg);
    if (!data && JS_HasException(c))
        return -1;
    if (len > UINT32_MAX) {
        JS_ThrowRangeError(c, "a Uint8Array of 4 GiB or more cannot be passed to the host");
        return -1;
    }
    /* An empty array may have no buffer: any non-NULL pointer marks it. */
    out->data = data ? data : (const uint8_t *)"";
    out->len = (uint32_t)len;
    return 0;
}

/* A host module's exports call the host through this, with (module,
   function) numbers as the function's data. Arguments and the result cross
   as JSON, as on every backend; a Uint8Array argument is null in the JSON
   and its bytes go beside it, and a REPLY_BYTES answer is a Uint8Array. */
static JSValue call_host(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv, int magic,
                         JSValueConst *data) {
    (void)this_val;
    (void)magic;
    uint32_t module, function;
    if (JS_ToUint32(c, &module, data[0]) || JS_ToUint32(c, &function, data[1]))
        return JS_EXCEPTION;
    JSValue args = JS_NewArray(c);
    if (JS_IsException(args))
        return args;
    BinaryArgument *binary = NULL;
    uint32_t binary_count = 0;
    for (int i = 0; i < argc; i++) {
        BinaryArgument found;
        if (binary_argument(c, argv[i], (uint32_t)i, &found) < 0)
            goto fail;
        if (found.data) {
            /* Grown one at a time: binary arguments are few. */
            BinaryArgument *grown = realloc(binary, sizeof(BinaryArgument) * (binary_count + 1));
            if (!grown) {
                JS_ThrowOutOfMemory(c);
                goto fail;
            }
            binary = grown;
            binary[binary_count++] = found;
        }
        JSValue value = found.data ? JS_NULL : JS_DupValue(c, argv[i]);
        if (JS_SetPropertyUint32(c, args, (uint32_t)i, value) < 0)
            goto fail;
    }
    JSValue json = JS_JSONStringify(c, args, JS_UNDEFINED, JS_UNDEFINED);
    JS_FreeValue(c, args);
    args = JS_UNDEFINED;
    if (JS_IsException(json))
        goto fail;
    Reply reply = {0};
    /* JSON.stringify can run guest code (toJSON, getters) that detaches a
       buffer, so the pointers are taken again right before the host reads. */
    for (uint32_t b = 0; b < binary_count; b++) {
        if (binary_argument(c, argv[binary[b].index], binary[b].index, &binary[b]) < 0 || !binary[b].data) {
            if (!JS_HasException(c))
                JS_ThrowTypeError(c, "a Uint8Array argument changed while its call was prepared");
            JS_FreeValue(c, json);
            goto fail;
        }
    }
    if (JS_IsString(json)) {
        size_t len;
        const char *text = JS_ToCStringLen(c, &len, json);
        JS_FreeValue(c, json);
        if (!text)
            goto fail;
        host_call(module, function, text, (uint32_t)len, binary, binary_count, &reply);
        JS_FreeCString(c, text);
    } else {
        JS_FreeValue(c, json);
        host_call(module, function, "[]", 2, binary, binary_count, &reply);
    }
    free(binary);
    char *bytes = take_reply(&reply);
    if (!bytes)
        return JS_ThrowOutOfMemory(c);
    if (reply.status == REPLY_OK) {
        JSValue result = JS_ParseJSON(c, bytes, reply.len, "<host function result>");
        free(bytes);
        return result;
    }
    if (reply.status == REPLY_BYTES) {
        JSValue result = JS_NewUint8ArrayCopy(c, (const uint8_t *)bytes, reply.len);
        free(bytes);
        return result;
    }
    JSValue error = JS_NewError(c);
    if (JS_IsException(error)) {
        free(bytes);
        return error;
    }
    JSValue message = JS_NewStringLen(c, bytes, reply.len);
    free(bytes);
    if (JS_IsException(message) ||
        JS_DefinePropertyValueStr(c, error, "message", message, JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE) < 0 ||
        JS_SetPropertyStr(c, error, "name", JS_NewString(c, "HostError")) < 0 ||
        (reply.tag != NO_HOST_ERROR &&
         JS_SetPropertyStr(c, error, HOST_ERROR_ID, JS_NewUint32(c, reply.tag)) < 0)) {
        JS_FreeValue(c, error);
        return JS_EXCEPTION;
    }
    return JS_Throw(c, error);
fail:
    JS_FreeValue(c, args);
    free(binary);
    return JS_EXCEPTION;
}

/* Exports one function per name in the module's private value:
   [module number, name, name, ...]. */
static int init_host_module(JSContext *c, JSModuleDef *m) {
    JSValue spec = JS_GetModulePrivateValue(c, m);
    int64_t count = 0;
    int failed = JS_GetLength(c, spec, &count) < 0;
    JSValue module = failed ? JS_UNDEFINED : JS_GetPropertyUint32(c, spec, 0);
    for (int64_t i = 1; !failed && i < count; i++) {
        JSValue name = JS_GetPropertyUint32(c, spec, (uint32_t)i);
        const char *text = JS_ToCString(c, name);
        JS_FreeValue(c, name);
        if (!text) {
            failed = 1;
            break;
        }
        JSValue data[2] = {module, JS_NewUint32(c, (uint32_t)(i - 1))};
        JSValue function = JS_NewCFunctionData2(c, call_host, text, 0, 0, 2, data);
        failed = JS_IsException(function) || JS_SetModuleExport(c, m, text, function) < 0;
        JS_FreeCString(c, text);
    }
    JS_FreeValue(c, module);
    JS_FreeValue(c, spec);
    return failed ? -1 : 0;
}

/* `names` is NUL-separated. */
static JSModuleDef *declare_host_module(JSContext *c, const char *name, uint32_t number, const char *names,
                                        uint32_t len) {
    JSModuleDef *m = JS_NewCModule(c, name, init_host_module);
    if (!m)
        return NULL;
    JSValue spec = JS_NewArray(c);
    if (JS_IsException(spec))
        return NULL;
    uint32_t index = 0;
    int failed = JS_SetPropertyUint32(c, spec, index++, JS_NewUint32(c, number)) < 0;
    for (uint32_t at = 0; !failed && at < len;) {
        const char *function = names + at;
        size_t flen = strlen(function);
        failed = JS_AddModuleExport(c, m, function) < 0 ||
                 JS_SetPropertyUint32(c, spec, index++, JS_NewStringLen(c, function, flen)) < 0;
        at += (uint32_t)flen + 1;
    }
    if (failed || JS_SetModulePrivateValue(c, m, spec) < 0)
        return NULL;
    return m;
}

static JSModuleDef *load_module(JSContext *c, const char *name, void *opaque, JSValueConst attributes) {
    (void)opaque;
    (void)attributes;
    Reply reply = {0};
    host_load(name, (uint32_t)strlen(name), &reply);
    char *bytes = take_reply(&reply);
    if (!bytes) {
        JS_ThrowOutOfMemory(c);
        return NULL;
    }
    JSModuleDef *m = NULL;
    if (reply.status == REPLY_HOST_MODULE) {
        m = declare_host_module(c, name, reply.tag, bytes, reply.len);
    } else if (reply.status == REPLY_OK) {
        JSValue compiled = JS_Eval(c, bytes, reply.len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
        if (!JS_IsException(compiled)) {
            m = JS_VALUE_GET_PTR(compiled);
            JS_FreeValue(c, compiled);
        }
    } else {
        JS_ThrowReferenceError(c, "%s", bytes);
    }
    free(bytes);
    return m;
}

/* --- running ---------------------------------------------------------- */

static int interrupt_handler(JSRuntime *r, void *opaque) {
    (void)r;
    (void)opaque;
    return host_should_stop();
}

/* Runs one pending job: 1 ran, 0 none, -1 failed (exception pending). A job
   only fails on an uncatchable error (a kill) or on exhausted memory: a
   throwing callback rejects its promise instead. */
static int run_job(void) {
    JSContext *job_ctx;
    int ran = JS_ExecutePendingJob(rt, &job_ctx);
    return ran < 0 ? -1 : ran > 0;
}

static JSValue throw_interrupted(void) {
    JS_ThrowInternalError(ctx, "interrupted");
    JS_SetUncatchableError(ctx, ctx->rt->current_exception);
    return JS_EXCEPTION;
}

/* Waits for a promise by running the job queue; other values pass through.
   Takes ownership of `value`. */
static JSValue settle(JSValue value) {
    if (!JS_IsPromise(value))
        return value;
    for (;;) {
        switch (JS_PromiseState(ctx, value)) {
        case JS_PROMISE_PENDING: {
            if (host_should_stop()) {
                JS_FreeValue(ctx, value);
                return throw_interrupted();
            }
            int ran = run_job();
            if (ran <= 0) {
                JS_FreeValue(ctx, value);
                if (ran == 0)
                    /* outcome.rs: NEVER_SETTLES, word for word (a test checks). */
                    JS_ThrowTypeError(ctx, "%s", "the handler returned a promise that can never settle (nothing is left to run)");
                return JS_EXCEPTION;
            }
            break;
        }
        case JS_PROMISE_FULFILLED: {
            JSValue result = JS_PromiseResult(ctx, value);
            JS_FreeValue(ctx, value);
            return result;
        }
        default: {
            JSValue reason = JS_PromiseResult(ctx, value);
            JS_FreeValue(ctx, value);
            return JS_Throw(ctx, reason);
        }
        }
    }
}

/* Runs microtasks the handler queued but did not wait for, so they cannot
   leak into the next call. */
static int drain_jobs(void) {
    for (;;) {
        int ran = run_job();
        if (ran <= 0)
            return ran;
        if (host_should_stop()) {
            throw_interrupted();
            return -1;
        }
    }
}

#define STACK_BASE ((uintptr_t)1 << 30)
/* The lowest shadow-stack address QuickJS may reach. */
static uintptr_t shadow_floor;

static uintptr_t stack_position(void) {
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    uintptr_t shadow_left = here > shadow_floor ? here - shadow_floor : 0;
    uintptr_t native_left = host_native_stack_left();
    /* Nothing left must read as below the limit, even for a check that
       allocates nothing (QuickJS tests `position - alloca < limit`). */
    return STACK_BASE - 1 + (shadow_left < native_left ? shadow_left : native_left);
}

/*
 * Lets QuickJS use `quota` bytes of the shadow stack below where it is now
 * (the top: exports are entered with an empty stack). Its shadow stack is
 * the first region of linear memory (--stack-first), so even a check that
 * came too late would trap rather than overwrite data.
 */
static uint32_t stack_quota;

static void set_stack_limit(uint32_t quota) {
    stack_quota = quota;
    uintptr_t top = (uintptr_t)__builtin_frame_address(0);
    shadow_floor = top > quota ? top - quota : 0;
    JS_SetMaxStackSize(rt, quota);
    rt->stack_limit = STACK_BASE;
}

EXPORT(hl_init) int32_t hl_init(uint32_t stack_size, int32_t print) {
    if (rt)
        return ST_BAD_ARGUMENT;
    print_enabled = print != 0;
    output.host_error = NO_HOST_ERROR;
    rt = JS_NewRuntime();
    if (!rt)
        return ST_OUT_OF_MEMORY;
    set_stack_limit(stack_size);
    JS_SetInterruptHandler(rt, interrupt_handler, NULL);
    JS_SetModuleLoaderFunc2(rt, normalize_module, load_module, NULL, NULL);
    ctx = JS_NewContext(rt);
    if (!ctx)
        return ST_OUT_OF_MEMORY;
    if (install_console() < 0)
        return report_exception(ST_THROWN);
    return ST_OK;
}

/*
 * Evaluates the built-in environment (builtins.js, `source` NUL-terminated)
 * as a global script, with `setup_stack` bytes of shadow stack; the host calls it once, right after hl_init, so the
 * built-ins are part of every snapshot.
 */
EXPORT(hl_setup) int32_t hl_setup(const char *source, uint32_t source_len, uint32_t setup_stack) {
    clear_output();
    /* The built-ins are ours, not the handler's: they are parsed with
       `setup_stack` bytes of stack whatever scratch size the user chose. */
    uint32_t handler_quota = stack_quota;
    set_stack_limit(setup_stack);
    JSValue evaluated = JS_Eval(ctx, source, source_len, "<builtins>", JS_EVAL_TYPE_GLOBAL);
    set_stack_limit(handler_quota);
    if (JS_IsException(evaluated))
        return report_exception(ST_THROWN);
    JS_FreeValue(ctx, evaluated);
    return ST_OK;
}

/*
 * Gives Math.random a new state (`seed`, from the host's OS randomness).
 * The state lives in linear memory, so without this every restore would
 * bring it back and replay the same sequence; the host calls this after
 * hl_init and after every restore. xorshift64* needs a non-zero state.
 */
EXPORT(hl_reseed) void hl_reseed(uint64_t seed) {
    if (ctx)
        ctx->random_state = seed ? seed : 1;
}

/* QuickJS's heap after the last collection: GC_WHEN_GROWN's baseline. It
   lives in linear memory, so snapshots and restores carry it along with
   the heap it describes. */
static size_t collected_at;

/*
 * Makes `performance` count from now, as it does from JS_NewContext in a
 * guest started cold. The host calls it when it starts a guest from the
 * memory image of one that already ran hl_init and hl_setup (a start
 * image, see start_image.rs), whose clock origin is the image's.
 * `performance.timeOrigin` is a read-only data property, so it is set
 * here, under the engine; nothing but the built-ins has run yet.
 */
EXPORT(hl_restart_clock) int32_t hl_restart_clock(void) {
    if (!ctx)
        return ST_BAD_ARGUMENT;
    ctx->time_origin = js__now_ms();
    JSValue performance = JS_GetPropertyStr(ctx, ctx->global_obj, "performance");
    if (!JS_IsObject(performance)) {
        if (JS_IsException(performance))
            JS_FreeValue(ctx, JS_GetException(ctx));
        return ST_BAD_ARGUMENT;
    }
    JSAtom name = JS_NewAtom(ctx, "timeOrigin");
    JSProperty *pr;
    JSShapeProperty *prs = name == JS_ATOM_NULL ? NULL : find_own_property(&pr, JS_VALUE_GET_OBJ(performance), name);
    int32_t status = ST_BAD_ARGUMENT;
    if (prs && (prs->flags & JS_PROP_TMASK) == JS_PROP_NORMAL) {
        JS_FreeValue(ctx, pr->u.value);
        pr->u.value = js_float64(ctx->time_origin);
        status = ST_OK;
    }
    JS_FreeAtom(ctx, name);
    JS_FreeValue(ctx, performance);
    return status;
}

/*
 * Compiles and evaluates handler module `name` (`source` already ends with
 * the handler export, and is NUL-terminated), driving top-level await to its
 * end. On success the handler is number `handler_count - 1`.
 */
EXPORT(hl_load) int32_t hl_load(const char *name, const char *source, uint32_t source_len) {
    clear_output();
    JSValue *grown = realloc(handlers, sizeof(JSValue) * (handler_count + 1));
    if (!grown)
        return ST_OUT_OF_MEMORY;
    handlers = grown;
    JSValue compiled = JS_Eval(ctx, source, source_len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(compiled))
        return report_exception(ST_THROWN);
    JSModuleDef *m = JS_VALUE_GET_PTR(compiled);
    JSValue evaluated = settle(JS_EvalFunction(ctx, compiled));
    if (JS_IsException(evaluated))
        return report_exception(ST_THROWN);
    JS_FreeValue(ctx, evaluated);
    JSValue namespace = JS_GetModuleNamespace(ctx, m);
    if (JS_IsException(namespace))
        return report_exception(ST_THROWN);
    JSValue handler = JS_GetPropertyStr(ctx, namespace, HANDLER_BINDING);
    JS_FreeValue(ctx, namespace);
    if (JS_IsException(handler))
        return report_exception(ST_THROWN);
    if (!JS_IsFunction(ctx, handler)) {
        JS_FreeValue(ctx, handler);
        return ST_NOT_A_FUNCTION;
    }
    handlers[handler_count++] = handler;
    /* What loading left is the handlers' state, not garbage to look for. */
    collected_at = rt->malloc_state.malloc_size;
    return ST_OK;
}

/* What hl_call does with the cycle collector once it has its result
   (collection.rs in the host). */
enum { GC_NEVER = 0, GC_ALWAYS = 1, GC_WHEN_GROWN = 2 };

static bool collects(int32_t gc, uint32_t budget) {
    size_t used = rt->malloc_state.malloc_size;
    if (gc == GC_ALWAYS)
        return true;
    if (gc == GC_WHEN_GROWN && used > collected_at && used - collected_at > budget)
        return true;
    /* A collection during the call (QuickJS's own trigger) may have left
       the heap smaller than the baseline: growth counts from there. */
    if (used < collected_at)
        collected_at = used;
    return false;
}

/*
 * Calls handler `index` with the event (JSON text, NUL-terminated). On
 * ST_OK the output text is the result as JSON, on ST_OK_BYTES the bytes of
 * the Uint8Array it returned; otherwise it describes the failure. Then runs
 * the cycle collector as `gc` says (GC_WHEN_GROWN: when the heap grew by
 * more than `budget` bytes since the last collection).
 */
EXPORT(hl_call) int32_t hl_call(uint32_t index, const char *event, uint32_t event_len, int32_t gc, uint32_t budget) {
    clear_output();
    if (index >= handler_count)
        return ST_BAD_ARGUMENT;
    JSValue parsed = JS_ParseJSON(ctx, event, event_len, "<event>");
    if (JS_IsException(parsed))
        return report_exception(ST_BAD_EVENT);
    JSValue returned = JS_Call(ctx, handlers[index], JS_UNDEFINED, 1, &parsed);
    JS_FreeValue(ctx, parsed);
    if (JS_IsException(returned))
        return report_exception(ST_THROWN);
    JSValue value = settle(returned);
    if (JS_IsException(value))
        return report_exception(ST_THROWN);
    if (drain_jobs() < 0) {
        JS_FreeValue(ctx, value);
        return report_exception(ST_THROWN);
    }
    int32_t status = ST_OK;
    bool stored;
    if (JS_GetTypedArrayType(value) == JS_TYPED_ARRAY_UINT8) {
        /* A Uint8Array result is its bytes, not JSON (docs/api.md). */
        size_t len;
        uint8_t *data = JS_GetUint8Array(ctx, &len, value);
        if (!data && JS_HasException(ctx)) {
            JS_FreeValue(ctx, value);
            return report_exception(ST_NOT_SERIALIZABLE);
        }
        stored = set_text(data ? (const char *)data : "", len);
        JS_FreeValue(ctx, value);
        status = ST_OK_BYTES;
    } else {
        JSValue json = JS_JSONStringify(ctx, value, JS_UNDEFINED, JS_UNDEFINED);
        JS_FreeValue(ctx, value);
        if (JS_IsException(json))
            return report_exception(ST_NOT_SERIALIZABLE);
        if (!JS_IsString(json)) {
            JS_FreeValue(ctx, json);
            return ST_RESULT_UNDEFINED;
        }
        size_t len;
        const char *text = JS_ToCStringLen(ctx, &len, json);
        JS_FreeValue(ctx, json);
        if (!text)
            return report_exception(ST_THROWN);
        stored = set_text(text, len);
        JS_FreeCString(ctx, text);
    }
    if (!stored)
        return ST_OUT_OF_MEMORY;
    if (collects(gc, budget)) {
        JS_RunGC(rt);
        collected_at = rt->malloc_state.malloc_size;
        /* Finalizers the collection queued belong to this call. */
        if (drain_jobs() < 0)
            return report_exception(ST_THROWN);
    }
    return status;
}
