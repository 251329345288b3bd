/** Helpers for tests and demos of render farms on one machine. */
export { blenderSceneScript, hasBlender, makeBlenderScene, type BlenderSceneOptions } from './blender';
