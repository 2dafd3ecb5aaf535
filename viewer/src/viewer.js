// The e3d2 dance viewer: an animated glTF dance (from `e3d2 dance --formats glb`) shown in
// three.js, turned with the mouse, and played in sync with the song: the animation's clock
// is the <audio> element's currentTime, so pausing, seeking and the end of the song all hold.
import {
  AmbientLight,
  AnimationMixer,
  Box3,
  Color,
  DirectionalLight,
  PerspectiveCamera,
  Scene,
  Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";

const FRONT_THREE_QUARTER = (35 * Math.PI) / 180; // camera azimuth from the dancer's front

export async function mountDanceViewer(element, { glb, audio, height = 420 }) {
  element.replaceChildren();
  const canvas = document.createElement("canvas");
  canvas.className = "e3d2-canvas";
  canvas.style.cssText = `width: 100%; height: ${height}px; display: block; border-radius: 6px`;
  const player = document.createElement("audio");
  player.className = "e3d2-audio";
  player.controls = true;
  player.preload = "auto";
  player.src = audio;
  player.style.cssText = "width: 100%; margin-top: 6px";
  const status = document.createElement("div");
  status.className = "e3d2-viewer-status";
  status.style.cssText = "font-size: 12px; opacity: 0.7";
  element.append(canvas, player, status);

  const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  const scene = new Scene();
  scene.background = new Color(0xf4f4f4);
  scene.add(new AmbientLight(0xffffff, 1.6));
  const sun = new DirectionalLight(0xffffff, 2.2);
  sun.position.set(2, 4, 3);
  scene.add(sun);

  const gltf = await new GLTFLoader().loadAsync(glb);
  scene.add(gltf.scene);
  const mixer = new AnimationMixer(gltf.scene);
  const clip = gltf.animations[0];
  if (clip) mixer.clipAction(clip).play();
  mixer.setTime(0);

  // frame the dance from the front three-quarter view; the dancer faces `facing` (glTF extras)
  const box = new Box3();
  for (const child of gltf.scene.children) if (child.name !== "floor") box.expandByObject(child);
  const centre = box.getCenter(new Vector3());
  const size = box.getSize(new Vector3()).length();
  const facing = gltf.scene.userData.facing || [0, 0, 1];
  const heading = Math.atan2(facing[0], facing[2]) + FRONT_THREE_QUARTER;
  const camera = new PerspectiveCamera(40, 1, 0.05, 100);
  const distance = Math.max(size * 1.8, 1.5); // the figure fills about two thirds of the view
  camera.position.set(
    centre.x + distance * Math.sin(heading),
    centre.y + distance * 0.25,
    centre.z + distance * Math.cos(heading),
  );
  const controls = new OrbitControls(camera, canvas);
  controls.target.copy(centre);
  controls.update();

  const duration = clip ? clip.duration : 0;
  status.textContent = `${duration.toFixed(1)} s of dance: drag to turn, scroll to zoom, play the song to dance`;
  function resize() {
    const width = canvas.clientWidth || 640;
    renderer.setSize(width, height, false);
    camera.aspect = width / height;
    camera.updateProjectionMatrix();
  }
  resize();
  new ResizeObserver(resize).observe(canvas);
  renderer.setAnimationLoop(() => {
    mixer.setTime(Math.min(player.currentTime, duration));
    controls.update();
    renderer.render(scene, camera);
  });
  return { renderer, player, mixer, duration };
}
