/** The burst-capacity gRPC server and its building blocks. */
export { addIntrospection, type Introspection } from './introspection';
