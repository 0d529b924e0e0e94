// The page's side of the service worker: register it, know when the shell and decoder are cached, and
// announce a new version (it takes over in the background; a reload then runs the new rules).

/** -> Promise<{version, cached}> once this page is controlled by an active worker; null without workers. */
export async function registerWorker({ onNewVersion }) {
  if (!("serviceWorker" in navigator)) return null; // e.g. some WebViews: the app runs, online only
  // eslint-disable-next-line compat/compat -- detected on the line above
  const container = navigator.serviceWorker;
  let controlled = Boolean(container.controller);
  container.addEventListener("controllerchange", () => {
    if (controlled) onNewVersion();
    controlled = true;
  });
  const registration = await container.register("/scan/sw.js", { scope: "/scan/", updateViaCache: "none" });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") registration.update().catch(() => {});
  });
  await container.ready;
  if (!container.controller) {
    await new Promise((resolve) => container.addEventListener("controllerchange", resolve, { once: true }));
  }
  return ask(container, container.controller);
}

function ask(container, worker) {
  return new Promise((resolve) => {
    const listener = ({ data }) => {
      if (data && data.type === "status") {
        container.removeEventListener("message", listener);
        resolve(data);
      }
    };
    container.addEventListener("message", listener);
    worker.postMessage({ type: "status" });
  });
}
