// The PDF viewer: pdf.js renders one page at a time onto a canvas, with previous/next buttons,
// the arrow keys, and a page indicator. Loaded as a module from 'self' (the page's CSP allows
// that and a worker from 'self', nothing else). When anything fails, a link opens the PDF.
const box = document.getElementById("pdf-viewer");

if (box) {
  viewer(box).catch(function () {
    box.classList.add("pdf-failed");
  });
}

async function viewer(box) {
  const part = (name) => box.querySelector('[data-pdf="' + name + '"]');
  const canvas = box.querySelector("canvas");
  const prev = part("prev");
  const next = part("next");
  const pdfjs = await import(box.dataset.pdfjs);
  pdfjs.GlobalWorkerOptions.workerSrc = box.dataset.worker;
  const pdf = await pdfjs.getDocument({ url: box.dataset.src, isEvalSupported: false }).promise;
  let current = 1;
  let task = null;

  async function show(number) {
    current = Math.min(Math.max(1, number), pdf.numPages);
    // track.js counts active time per page: tell it which page is in front.
    box.dataset.page = String(current);
    box.dispatchEvent(new CustomEvent("dealroom:page", { detail: { page: current }, bubbles: true }));
    part("current").textContent = String(current);
    part("total").textContent = String(pdf.numPages);
    // The page is served with both buttons disabled: they come alive here, once listened to.
    prev.disabled = current <= 1;
    next.disabled = current >= pdf.numPages;
    const page = await pdf.getPage(current);
    // Fit the whole page in the space available (width, and most of the window's height),
    // drawn at the screen's pixel density.
    const unscaled = page.getViewport({ scale: 1 });
    const width = Math.max(200, box.clientWidth);
    const height = Math.max(300, window.innerHeight * 0.85);
    const scale = Math.min(width / unscaled.width, height / unscaled.height);
    const viewport = page.getViewport({ scale: scale });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    // CSSOM from a script is allowed by the CSP (only inline style attributes are not).
    canvas.style.width = Math.floor(viewport.width) + "px";
    canvas.style.height = Math.floor(viewport.height) + "px";
    canvas.classList.add("pdf-ready");
    if (task) task.cancel();
    task = page.render({
      canvas: canvas,
      viewport: viewport,
      transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : null,
    });
    try {
      await task.promise;
    } catch (error) {
      if (!(error && error.name === "RenderingCancelledException")) throw error;
    }
    box.classList.add("pdf-loaded");
  }

  prev.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  box.addEventListener("keydown", function (event) {
    if (event.target.closest("button, a, input")) return;
    if (event.key === "ArrowLeft" || event.key === "PageUp") {
      event.preventDefault();
      show(current - 1);
    } else if (event.key === "ArrowRight" || event.key === "PageDown") {
      event.preventDefault();
      show(current + 1);
    } else if (event.key === "Home") {
      event.preventDefault();
      show(1);
    } else if (event.key === "End") {
      event.preventDefault();
      show(pdf.numPages);
    }
  });
  let resized = null;
  window.addEventListener("resize", function () {
    clearTimeout(resized);
    resized = setTimeout(() => show(current), 200);
  });
  await show(1);
}
