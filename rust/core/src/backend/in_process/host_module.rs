//! Host functions as ES modules: `import * as m from "math"` gets one export
//! per function registered under "math". Values cross as JSON text, and
//! `Uint8Array` arguments and byte results beside it (`host_call.rs`), the
//! same contract every backend has, so host functions behave alike.

use std::sync::Arc;

use rquickjs::module::{Declarations, Exports, ModuleDef};
use rquickjs::prelude::Rest;
use rquickjs::{Array, Ctx, Exception, Function, JsLifetime, Object, Result as JsResult, TypedArray, Value};

use super::values::HOST_ERROR_ID;
use crate::backend::host_errors::HostErrors;
use crate::host_call::HostArgs;
use crate::payload::Payload;
use crate::spec::HostFunction;
use crate::spec::LoadSpec;

/// Runtime userdata the module definition reads its functions from.
pub(super) struct HostBindings {
    pub spec: Arc<LoadSpec>,
    pub errors: Arc<HostErrors>,
}

// SAFETY: holds no JavaScript values, so it lives as long as it likes.
unsafe impl<'js> JsLifetime<'js> for HostBindings {
    type Changed<'to> = HostBindings;
}

pub(super) struct HostModule;

fn module_name(module: &rquickjs::Module<'_>) -> JsResult<String> {
    module.name::<String>()
}

impl ModuleDef for HostModule {
    fn declare<'js>(decl: &Declarations<'js>) -> JsResult<()> {
        let name = module_name(decl.module())?;
        let ctx = decl.module().ctx();
        let bindings = ctx.userdata::<HostBindings>().expect("host bindings are installed with the engine");
        let Some(functions) = bindings.spec.host_modules.get(&name) else {
            return Err(Exception::throw_reference(ctx, &format!("no host module named {name:?}")));
        };
        for function in functions.keys() {
            decl.declare(function.as_str())?;
        }
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> JsResult<()> {
        let name = module_name(exports.module())?;
        let bindings = ctx.userdata::<HostBindings>().expect("host bindings are installed with the engine");
        let Some(functions) = bindings.spec.host_modules.get(&name) else {
            return Err(Exception::throw_reference(ctx, &format!("no host module named {name:?}")));
        };
        for (function_name, function) in functions {
            let js = host_function(ctx, function.clone(), bindings.errors.clone())?;
            exports.export(function_name.as_str(), js)?;
        }
        Ok(())
    }
}

fn host_function<'js>(ctx: &Ctx<'js>, function: HostFunction, errors: Arc<HostErrors>) -> JsResult<Function<'js>> {
    Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> JsResult<Value<'js>> {
        let array = Array::new(ctx.clone())?;
        let mut bytes = Vec::new();
        for (i, arg) in args.0.into_iter().enumerate() {
            match binary_argument(&ctx, &arg)? {
                Some(data) => {
                    bytes.push((i, data));
                    array.set(i, Value::new_null(ctx.clone()))?;
                }
                None => array.set(i, arg)?,
            }
        }
        let args_json = match ctx.json_stringify(array)? {
            Some(text) => text.to_string()?,
            None => "[]".to_owned(),
        };
        match function(HostArgs { json: &args_json, bytes: &bytes }) {
            Ok(Payload::Json(result_json)) => ctx.json_parse(result_json),
            // A copy QuickJS allocates, so the heap limit counts it.
            Ok(Payload::Bytes(data)) => Ok(TypedArray::<u8>::new_copy(ctx.clone(), data)?.into_value()),
            Err(failure) => {
                let error = Exception::from_message(ctx.clone(), &failure.message)?;
                let object: &Object<'js> = error.as_object();
                object.set("name", "HostError")?;
                if failure.cause.is_some() {
                    object.set(HOST_ERROR_ID, errors.keep(failure))?;
                }
                Err(ctx.throw(error.into_value()))
            }
        }
    })
}

/// The bytes of a `Uint8Array` argument (a view's own bytes, not its whole
/// buffer); a detached or out-of-bounds one is a `TypeError`, as on wasm.
fn binary_argument<'js>(ctx: &Ctx<'js>, arg: &Value<'js>) -> JsResult<Option<Vec<u8>>> {
    let Some(array) = arg.as_object().and_then(|object| object.as_typed_array::<u8>()) else {
        return Ok(None);
    };
    // SAFETY: the slice is copied before any JavaScript runs again, so
    // nothing can detach or resize the buffer under it.
    match unsafe { array.as_bytes() } {
        Some(data) => Ok(Some(data.to_vec())),
        None => Err(Exception::throw_type(ctx, "a detached or out-of-bounds Uint8Array cannot be passed to the host")),
    }
}
