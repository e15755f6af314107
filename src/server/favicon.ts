/**
 * The site icon: three linked nodes. Served at /meshwork/favicon.svg (the built-in page and the
 * demo link it) and at /favicon.ico when the static dir has none, because browsers ask for that
 * path on their own and would log a 404 in the console otherwise.
 */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<path d="M8 9 24 7 16 25Z" fill="none" stroke="#2f6f9f" stroke-width="2.5" stroke-linejoin="round"/>
<circle cx="8" cy="9" r="5" fill="#2f6f9f"/><circle cx="24" cy="7" r="4.5" fill="#e08a2c"/><circle cx="16" cy="25" r="5" fill="#3e9b5b"/>
</svg>
`;
