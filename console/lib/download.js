// Saves a file the API returned (the evidence export). The request carries the token in a
// header, so the file is fetched first and then handed to the browser as a blob: a link with
// the token in its URL would leak it into history and logs.

export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
