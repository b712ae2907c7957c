import { register } from "hyperlight-js-python:runtime";
export function handler(request) { return register(request.id, import(request.specifier)); }
