import * as testing from '@spillway/sdk/testing';

/** The tiny Blender scene of the SDK's testing helpers, under this harness's names. */
export const blenderAvailable = testing.hasBlender;
export const buildBlenderScene = testing.makeBlenderScene;
export type BlenderSceneOptions = testing.BlenderSceneOptions;
