// Requests with a deadline: on a site with one bar of signal an answer that does not come is no answer.

export async function fetchWithin(url, ms, init = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}
