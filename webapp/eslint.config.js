// The compatibility lint run by `make test`: every API the phone app and its core use must exist in the
// browsers named by package.json's browserslist (Android Chrome/WebView >= 100, Safari >= 16), or be
// feature-detected. Polyfill-free: what a target lacks is a finding.
import compat from "eslint-plugin-compat";

export default [
  {
    files: ["src/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    ...compat.configs["flat/recommended"],
    rules: { "compat/compat": "error" },
  },
];
