import * as testing from '@spillway/sdk/testing';

/** The tiny Blender scene of the SDK's testing helpers (one copy serves both bridges). */
export const { blenderSceneScript, hasBlender, makeBlenderScene } = testing;
export type BlenderSceneOptions = testing.BlenderSceneOptions;
