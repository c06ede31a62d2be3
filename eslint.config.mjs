// ESLint flat config: typescript-eslint's recommended rules plus the Pulumi plugin.
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      ".pgfleet/**",
      "dist/**",
      "**/*.js",
      "**/*.mjs",
      "vitest.config.ts",
      "vitest.scale.config.ts",
    ],
  },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The program's modules take the SDK's values from its subpaths: the root (and `dynamic`,
    // `runtime`) load the closure serialiser, which slows every preview and up
    // (provider/dynamic.ts, test/unit/sdk-imports.test.ts). Types from the root are free.
    files: ["index.ts", "components/**/*.ts", "core/**/*.ts", "db/**/*.ts", "provider/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        ...["@pulumi/pulumi", "@pulumi/pulumi/dynamic", "@pulumi/pulumi/runtime"].map((name) => ({
          name,
          allowTypeImports: true,
          message:
            "import the SDK's values from its subpaths (@pulumi/pulumi/resource, /output, …): see provider/dynamic.ts",
        })),
      ],
    },
  },
);
