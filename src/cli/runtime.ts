// Everything a command needs once it runs (clients, printers, generated schemas), loaded by its action
// so that `--help` and usage errors never pay for it.
export { ImageSchema } from "../gen/regplane/v1/image_pb.js";
export { NamespaceSchema, Visibility } from "../gen/regplane/v1/namespace_pb.js";
export { OperationSchema } from "../gen/regplane/v1/operation_pb.js";
export { Registry_Status, RegistrySchema } from "../gen/regplane/v1/registry_pb.js";
export { contextOf } from "./context.js";
export { printList } from "./list.js";
export { confirm, printOperation, runMutation } from "./mutate.js";
export { ListPrinter, printOne } from "./output.js";
