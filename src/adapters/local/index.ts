export { LocalProvider, type LocalProviderOptions } from "./provider.js";
