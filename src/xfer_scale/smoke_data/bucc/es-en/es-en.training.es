es-000000001	El hombre pinta el coche rojo.
es-000000002	El médico compra el coche nuevo cerca del parque.
es-000000003	La mujer compra la bolsa vieja.
es-000000004	El granjero compra la casa nueva cerca del parque.
es-000000005	El granjero no ve el barco rojo.
es-000000006	El granjero compra la mesa vieja en el mercado.
es-000000007	El maestro vende la bolsa nueva en el mercado.
es-000000008	La mujer no lleva la mesa roja cerca del parque con un amigo.
es-000000009	El médico ve la casa nueva.
es-000000010	El hombre vende el libro nuevo.
es-000000011	El maestro encuentra la casa nueva.
es-000000012	El hombre no ve el coche rojo cerca del parque con un amigo.
es-000000013	El médico no vende el barco rojo con un amigo.
es-000000014	El hombre encuentra el barco rojo con un amigo.
es-000000015	El maestro encuentra la bolsa nueva en el mercado.
es-000000016	El granjero compra el libro rojo.
es-000000017	El médico lleva la bolsa roja con un amigo.
es-000000018	El médico compra la bolsa vieja.
es-000000019	La mujer lleva la bolsa roja en el mercado.
es-000000020	La mujer compra el barco rojo.
es-000000021	El granjero no lleva el libro rojo.
es-000000022	El maestro compra el coche nuevo cerca del parque.
es-000000023	El hombre pinta la casa vieja en el mercado.
es-000000024	El médico lleva el barco nuevo con un amigo.
es-000000025	El hombre lleva el barco rojo con un amigo.
es-000000026	El médico pinta la mesa vieja con un amigo.
es-000000027	La mujer compra la mesa nueva.
es-000000028	El médico lleva la mesa roja con un amigo.
es-000000029	El granjero encuentra el coche nuevo.
es-000000030	El médico no lleva el coche nuevo con un amigo.
es-000000031	El maestro no pinta la casa roja en el mercado.
es-000000032	El granjero no vende el barco rojo.
es-000000033	El granjero no compra la bolsa nueva.
es-000000034	El maestro vende el coche viejo en el mercado con un amigo.
es-000000035	El maestro ve el barco rojo cerca del parque con un amigo.
es-000000036	El niño encuentra el libro viejo cerca del parque.
es-000000037	El médico no ve la bolsa vieja.
es-000000038	El hombre no compra la mesa roja.
es-000000039	El médico vende la mesa nueva cerca del parque con un amigo.
es-000000040	La mujer pinta el libro rojo en el mercado.
es-000000041	La mujer lleva la bolsa vieja cerca del parque.
es-000000042	El hombre lleva el barco viejo.
es-000000043	El médico vende la mesa roja.
es-000000044	La mujer no lleva la casa vieja con un amigo.
es-000000045	La mujer encuentra el coche nuevo cerca del parque.
es-000000046	El granjero no lleva el coche nuevo.
es-000000047	El médico lleva la casa vieja cerca del parque con un amigo.
es-000000048	El médico ve el libro viejo en el mercado.
es-000000049	El niño lleva el coche rojo cerca del parque con un amigo.
es-000000050	El hombre no ve la bolsa nueva.
es-000000051	La mujer vende la casa roja en el mercado con un amigo.
es-000000052	El médico vende el barco nuevo.
es-000000053	El niño compra la casa vieja.
es-000000054	El hombre compra la bolsa roja.
es-000000055	El maestro no lleva el libro nuevo cerca del parque.
es-000000056	El hombre compra la mesa roja.
es-000000057	El médico encuentra el libro nuevo.
es-000000058	El maestro pinta la casa nueva.
es-000000059	El maestro vende el coche nuevo cerca del parque con un amigo.
es-000000060	El maestro encuentra la casa vieja en el mercado.
